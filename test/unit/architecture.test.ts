import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO, tempDir } from '../helpers/agent-process.js';

/**
 * The dependency direction of agent/ (docs/architecture.md), checked by the same dependency-cruiser config
 * CI runs (`npm run depcheck`): no cycles, folders only through their index.ts, folders import only the
 * kernel from agent/ itself. A fixture tree with one breach of each rule shows the check can fail. And the
 * size rule of the style guide: no file in agent/ over 400 lines.
 */

const CONFIG = join(REPO, '.dependency-cruiser.cjs');
const DEPCRUISE = join(REPO, 'node_modules/.bin/depcruise');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

interface CruiseSummary {
  violations: Violation[];
  error: number;
  totalCruised: number;
  ruleSetUsed: { forbidden: { name: string; severity: string }[] };
}

async function cruise(cwd: string): Promise<CruiseSummary> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', 'agent'],
    { cwd, maxBuffer: 64 * 1024 * 1024 },
  );
  return (JSON.parse(stdout) as { summary: CruiseSummary }).summary;
}

const described = (v: Violation) => `${v.rule.name}: ${v.from} -> ${v.to}`;

// the repository is cruised once (a few seconds) for the two tests that read it
let repoCruise: Promise<CruiseSummary> | undefined;
const cruiseRepo = () => {
  repoCruise ??= cruise(REPO);
  return repoCruise;
};

t.test('agent/ has no import cycle and no reach into another folder', async (t) => {
  const summary = await cruiseRepo();
  t.same(summary.violations.map(described), [], 'no violations');
  t.equal(summary.error, 0);
  t.ok(summary.totalCruised > 80, `the whole agent was cruised (${summary.totalCruised} modules)`);
});

t.test(
  'the rule set: cycles, folder boundaries, subfolders, root files and the kernel, all errors',
  async (t) => {
    const { ruleSetUsed } = await cruiseRepo();
    t.same(
      ruleSetUsed.forbidden.map((r) => `${r.name} (${r.severity})`),
      [
        'no-circular (error)',
        'folder-through-index (error)',
        'subfolder-through-index (error)',
        'root-through-index (error)',
        'folders-import-only-the-kernel (error)',
      ],
    );
  },
);

t.test('each kind of breach is found, and what the rules allow is not', async (t) => {
  const dir = tempDir('eva-arch-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    // a cycle, one side of it type-only: types count
    'agent/a/x.ts': "import { y } from './y.js';\nexport const x = () => y;\n",
    'agent/a/y.ts': "import type { x } from './x.js';\nexport const y = 1;\nexport type X = typeof x;\n",
    'agent/a/index.ts': "export { x } from './x.js';\n",
    // another folder's internals (breach), its index and the kernel (allowed)
    'agent/b/z.ts':
      "import { x } from '../a/x.js';\nimport type { X } from '../a/index.js';\nimport { AgentError } from '../errors.js';\nexport const z = [x, AgentError] as const;\nexport type Z = X;\n",
    // a folder importing the wiring
    'agent/b/w.ts': "import { main } from '../main.js';\nexport const w = main;\n",
    'agent/errors.ts': 'export class AgentError extends Error {}\n',
    // a root file: a folder's internals (breach), a subfolder's index (allowed)
    'agent/main.ts':
      "import { x } from './a/x.js';\nimport { inner } from './sync/sub/index.js';\nexport const main = [x, inner];\n",
    // a folder reaching into its own subfolder (breach); the subfolder importing its parent (allowed)
    'agent/sync/user.ts': "import { inner } from './sub/inner.js';\nexport const user = inner;\n",
    'agent/sync/base.ts': 'export const base = 1;\n',
    'agent/sync/sub/inner.ts': "import { base } from '../base.js';\nexport const inner = base;\n",
    'agent/sync/sub/index.ts': "export { inner } from './inner.js';\n",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const summary = await cruise(dir);
  t.same(summary.violations.map(described).sort(), [
    'folder-through-index: agent/b/z.ts -> agent/a/x.ts',
    'folders-import-only-the-kernel: agent/b/w.ts -> agent/main.ts',
    'no-circular: agent/a/x.ts -> agent/a/y.ts',
    'root-through-index: agent/main.ts -> agent/a/x.ts',
    'subfolder-through-index: agent/sync/user.ts -> agent/sync/sub/inner.ts',
  ]);
  t.equal(summary.error, 5);
});

t.test('no file in agent/ is over 400 lines (app.ts is being rewritten)', async (t) => {
  const files = readdirSync(join(REPO, 'agent'), { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && f !== 'app.ts',
  );
  t.ok(files.length > 80, `${files.length} files`);
  const long = files
    .map((f) => ({ f, lines: readFileSync(join(REPO, 'agent', f), 'utf8').split('\n').length - 1 }))
    .filter(({ lines }) => lines > 400)
    .map(({ f, lines }) => `${f}: ${lines}`);
  t.same(long, []);
});
