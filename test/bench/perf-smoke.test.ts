import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import t from 'tap';
import { runBench } from '../../agent/bench-cli.js';
import type { CliContext } from '../../agent/cli/index.js';
import { type BenchReport, SUMMARY_COLUMNS } from '../../agent/perf/index.js';
import { REPO, SAMPLES, tempDir, WASHER_MODEL } from '../helpers/agent-process.js';
import { requireTool } from '../helpers/tools.js';

/**
 * The benchmark harness (docs/performance.md) cannot rot: `npm run bench -- --smoke` runs one short pass
 * (the washer model, two generated frames: the stages alone, then one cycle of turns of the pipelined limit,
 * the plain script and the agent with 1 and 4 cameras, then the agent alone at 50 %) and its report must have
 * every column, each a finite number. The figures themselves are never asserted: this machine is shared and
 * timing thresholds would be noise.
 */

const AGENT_RUNS = ['1cam', '1cam@50%', '4cam', '4cam@50%'];

function numbersOf(v: number | number[]): number[] {
  return Array.isArray(v) ? v : [v];
}

t.test('npm run bench -- --smoke: every column of the report is a measured number', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the bench publishes decisions to a local mosquitto')) return;
  const out = tempDir('eva-bench-smoke-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'bench/perf/run.ts'), '--smoke', '--out', out],
    { cwd: REPO, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchReport;
  t.same(report.skipped, [], 'nothing skipped or failed');
  t.equal(report.cases.length, 1, 'the washer model');
  const c = report.cases[0];
  if (!c) return;
  t.equal(c.id, 'washer');
  for (const col of SUMMARY_COLUMNS) {
    const values = numbersOf(col.value(c));
    // a lag can truly be 0 (the loop never ran late); everything else is a rate, a time or a size
    const ok = values.every((v) => Number.isFinite(v) && (col.key === 'loopLag' ? v >= 0 : v > 0));
    t.ok(ok, `${col.header}: ${values.join(' / ')}`);
  }
  t.same(Object.keys(c.agent).sort(), AGENT_RUNS, 'the agent with 1 and 4 cameras, continuous and at 50 %');
  for (const [key, run] of Object.entries(c.agent)) {
    t.ok(run.decisions > 0, `${key}: decisions counted at the subscriber (${run.decisions})`);
    t.ok(Object.keys(run.threadsMsPerDecision).length > 0, `${key}: CPU time by thread`);
  }
  for (const [step, ms] of Object.entries(c.plain.stepsMs))
    t.ok(ms >= 0 && Number.isFinite(ms), `plain ${step} ${ms} ms`);
  t.same(
    Object.keys(c.cycles).sort(),
    ['1cam', '4cam', 'limit', 'plain'],
    'turns of the limit, plain and agent',
  );
  const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
  for (const col of SUMMARY_COLUMNS) t.ok(markdown.includes(col.header), `the table has "${col.header}"`);
  t.match(markdown, /\| washer \(2 generated 1920x1080/);
});

function capture(): { ctx: CliContext; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        append(String(chunk));
        done();
      },
    });
  return {
    ctx: {
      stdout: sink((s) => {
        out += s;
      }),
      stderr: sink((s) => {
        err += s;
      }),
      env: {},
    },
    out: () => out,
    err: () => err,
  };
}

t.test('edge-agent bench --e2e: a user model on a user folder, limit vs plain vs agent', async (t) => {
  if (!requireTool(t, 'mosquitto', 'the bench publishes decisions to a local mosquitto')) return;
  const c = capture();
  const code = await runBench(
    [
      '--e2e',
      '--model',
      WASHER_MODEL,
      '--frames',
      SAMPLES,
      '--cycles',
      '1',
      '--turn',
      '1',
      '--seconds',
      '1',
    ].concat(['--cameras', '1', '--json']),
    c.ctx,
  );
  t.equal(code, 0, c.err());
  const report = JSON.parse(c.out()) as BenchReport;
  t.equal(report.cases[0]?.id, 'washer', 'named after the model folder');
  t.same(Object.keys(report.cases[0]?.agent ?? {}), ['1cam', '1cam@50%']);
  t.ok((report.cases[0]?.plain.fps ?? 0) > 0, 'the plain script ran');
  t.ok((report.cases[0]?.ratios['1cam']?.vsPlain ?? 0) > 0, 'agent/plain');
  t.match(c.err(), /bench: washer: agent alone, 1 camera/, 'progress on stderr');
});

t.test('edge-agent bench --e2e: a missing or empty frames folder is a usage error', async (t) => {
  let c = capture();
  t.equal(await runBench(['--e2e', '--model', WASHER_MODEL], c.ctx), 1);
  t.match(c.err(), /--e2e needs --frames DIR/);
  c = capture();
  const empty = tempDir('eva-bench-empty-');
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  t.equal(await runBench(['--e2e', '--model', WASHER_MODEL, '--frames', empty], c.ctx), 1);
  t.match(c.err(), /holds no \.jpg, \.jpeg or \.png file/);
});
