import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../errors.js';
import { type BenchBroker, startMosquitto, useBroker } from './broker.js';
import { type BenchReport, machine } from './report.js';
import { benchCase, type CaseSpec, type SuiteOptions } from './suite.js';

export type RunSuiteOptions = Omit<SuiteOptions, 'brokerUrl' | 'workDir'> & {
  /** a broker to use; none: the local `mosquitto` is started on a free loopback port */
  brokerUrl?: string | undefined;
  /** keep the work folder (agent logs, databases) for a look afterwards */
  keepWorkDir?: boolean;
};

/**
 * Every case in turn (never two at once: they would share the cores), each with its limit, plain and agent
 * runs; a case that fails is listed with its reason and the others still run. `skipped` is carried into
 * the report (models the caller could not make, frame sets it could not find).
 */
export async function runSuite(
  cases: CaseSpec[],
  opts: RunSuiteOptions,
  skipped: string[] = [],
): Promise<{ report: BenchReport; failures: string[] }> {
  const startedAt = new Date().toISOString();
  const startMachine = machine();
  const workDir = mkdtempSync(join(tmpdir(), 'eva-perf-'));
  const broker: BenchBroker = opts.brokerUrl ? await useBroker(opts.brokerUrl) : await startMosquitto();
  const failures: string[] = [];
  const done = [];
  try {
    for (const spec of cases) {
      try {
        done.push(await benchCase(spec, { ...opts, brokerUrl: broker.url, workDir }));
      } catch (err) {
        const why = `${spec.id}: failed: ${describeError(err)}`;
        failures.push(why);
        opts.progress?.(why);
      }
    }
  } finally {
    await broker.stop();
    if (opts.keepWorkDir) opts.progress?.(`work folder kept: ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
  const { progress: _p, brokerUrl: _b, keepWorkDir: _k, ...options } = opts;
  return {
    report: {
      schema: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: startMachine,
      broker: broker.describe,
      options,
      cases: done,
      skipped: [...skipped, ...failures],
    },
    failures,
  };
}
