/**
 * The pipelined limit as a process of its own (runPipelined), so the bench can measure it in turns with the
 * plain script and the agent: it writes one byte to stdout per frame through both stages, runs until SIGTERM.
 * Its job is a JSON file named by the first argument: { modelPath, manifest?, files, intraOpThreads }.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// sharp is loaded in the main thread before any worker exists, as in the agent (agent/main.ts)
import 'sharp';
import { loadManifest } from '../inference/index.js';
import { runPipelined } from './limit.js';

export interface LimitJob {
  modelPath: string;
  manifest?: string | undefined;
  files: string[];
  intraOpThreads: number;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const job = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as LimitJob;
  const { manifest } = loadManifest(job.modelPath, job.manifest);
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort());
  runPipelined(
    job.modelPath,
    manifest,
    job.files.map((f) => readFileSync(f)),
    { intraOpThreads: job.intraOpThreads, onFrame: () => process.stdout.write('.'), signal: stop.signal },
  ).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`limit script failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
