/**
 * Dependency direction in agent/ (docs/architecture.md): `npm run depcheck` and test/unit/architecture.test.ts.
 * Type-only imports count (tsPreCompilationDeps): a cycle through types is still two folders that cannot be
 * read, changed or tested one without the other.
 */

// The shared kernel: root files every folder may import. Other root files (app, main, check, bench-cli,
// model-inspect) wire or run the agent and are imported by nothing in a folder.
const KERNEL = '^agent/(errors|service|metrics|logger|redact|version|log-limit|events|alerts|lifecycle|read-limited)\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles in agent/: a shared type lives with its producer and the consumer imports it.',
      from: { path: '^agent/' },
      to: { circular: true },
    },
    {
      name: 'folder-through-index',
      severity: 'error',
      comment: 'A file in agent/X/ imports another folder agent/Y/ only through agent/Y/index.ts, its public surface.',
      from: { path: '^agent/([^/]+)/' },
      to: { path: '^agent/[^/]+/', pathNot: ['^agent/$1/', '^agent/[^/]+/index\\.ts$'] },
    },
    {
      name: 'subfolder-through-index',
      severity: 'error',
      comment:
        'A subfolder (agent/sync/sparkplug/) may import its parent folder, but the rest of the parent imports it only through its index.ts.',
      from: { path: '^agent/([^/]+)/([^/]+)' },
      to: { path: '^agent/$1/[^/]+/', pathNot: ['^agent/$1/$2/', '^agent/$1/[^/]+/index\\.ts$'] },
    },
    {
      name: 'root-through-index',
      severity: 'error',
      comment: 'Root files (app.ts, main.ts, check.ts, ...) import a folder only through an index.ts.',
      from: { path: '^agent/[^/]+\\.ts$' },
      to: { path: '^agent/.+/', pathNot: '/index\\.ts$' },
    },
    {
      name: 'folders-import-only-the-kernel',
      severity: 'error',
      comment: `A folder imports only the kernel from agent/ itself (${KERNEL}), never the wiring (app.ts, main.ts, ...).`,
      from: { path: '^agent/[^/]+/' },
      to: { path: '^agent/[^/]+\\.ts$', pathNot: KERNEL },
    },
  ],
  options: {
    // agent/ only: tests and benches may reach into a folder to test its parts
    includeOnly: '^agent/',
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
  },
};
