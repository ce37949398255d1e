import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (works from agent/ under tsx and from dist/). */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'edge-vision-agent' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate: the file layout differs between source and build
    }
  }
  return '0.0.0';
}

export const AGENT_VERSION = readVersion();
