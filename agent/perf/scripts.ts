import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * How to start the agent (`main`) or the plain script as a process: the compiled `.js` beside this module
 * in dist/ (an installed agent), else the `.ts` source through tsx (the repository, where tsx is a dev
 * dependency), the way the session worker is started from source.
 */
const SCRIPTS = { agent: '../main', plain: './plain-script', limit: './limit-script' } as const;

export function nodeArgsFor(which: keyof typeof SCRIPTS): string[] {
  const js = new URL(`${SCRIPTS[which]}.js`, import.meta.url);
  if (existsSync(fileURLToPath(js))) return [fileURLToPath(js)];
  const ts = fileURLToPath(new URL(`${SCRIPTS[which]}.ts`, import.meta.url));
  return ['--import', import.meta.resolve('tsx'), ts];
}
