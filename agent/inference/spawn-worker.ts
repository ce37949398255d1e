import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Clock } from '../service.js';

/**
 * A worker thread running `name` (a module beside this one): compiled `.js` in dist/; `.ts` when running
 * from source (tests, bench), where the worker needs the tsx loader itself (a test runner's loader does not
 * always reach workers).
 */
export function startWorker(name: 'session-worker' | 'decode-worker'): Worker {
  const js = new URL(`./${name}.js`, import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL(`./${name}.ts`, import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(boot, { eval: true });
}

/**
 * Asks a worker to end itself (`close`: it waits for its own work first) and resolves once it has, or after
 * `ms` at the latest. Then a session worker is terminated; a worker that may be inside a sharp call
 * (`terminate: false`, the decode worker) is left to end by itself, unreferenced: terminating it there can
 * take the whole process down (sharp #2263).
 */
export function retireWorker(worker: Worker, ms: number, clock: Clock, terminate = true): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      if (terminate) {
        void worker.terminate().then(() => resolve());
      } else {
        worker.unref();
        resolve();
      }
    }, ms);
    worker.once('exit', () => {
      clock.clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ type: 'close' });
  });
}
