/**
 * The plain script: what a plant engineer writes to do the agent's work without the agent, one frame at a
 * time, each step awaited: read the file, decode and resize with sharp (its defaults), `session.run` on the
 * main thread (onnxruntime's default options), insert the decision into SQLite (WAL, synchronous=FULL as the
 * agent's store), publish it at QoS 1 and wait for the PUBACK. The bench runs it as a process of its own
 * (`node plain-script.js JOB.json`), so its CPU time and memory are its own, and counts its decisions at a
 * consumer, as it counts the agent's.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { round, spread } from './stats.js';

export interface PlainJob {
  modelPath: string;
  task: 'classification' | 'detection' | 'anomaly';
  input: {
    name: string;
    width: number;
    height: number;
    layout: 'NCHW' | 'NHWC';
    colorOrder: 'RGB' | 'BGR';
    resize: 'stretch' | 'letterbox' | 'shortside-centercrop';
    padValue: number;
    scale: number;
    mean: [number, number, number];
    std: [number, number, number];
  };
  softmax: boolean;
  labels: string[];
  ngClasses: string[];
  confidence: number;
  files: string[];
  brokerUrl: string;
  topic: string;
  dbPath: string;
}

/** Median ms per frame of each step of the plain script. */
export interface PlainSteps {
  read: number;
  decode: number;
  infer: number;
  store: number;
  publish: number;
}

const FIT = { stretch: 'fill', letterbox: 'contain', 'shortside-centercrop': 'cover' } as const;

function toTensor(rgb: Buffer, input: PlainJob['input']): Float32Array {
  const plane = input.width * input.height;
  const out = new Float32Array(plane * 3);
  const order = input.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v =
        ((rgb[p * 3 + (order[c] as number)] as number) * input.scale - input.mean[c as 0 | 1 | 2]) /
        input.std[c as 0 | 1 | 2];
      out[input.layout === 'NCHW' ? c * plane + p : p * 3 + c] = v;
    }
  }
  return out;
}

/** The verdict, as naively as a script does it: softmax and NG classes; boxes over the confidence; a score. */
function verdictOf(
  job: PlainJob,
  outputs: ort.InferenceSession.OnnxValueMapType,
): { verdict: string; result: unknown } {
  const first = Object.values(outputs)[0] as ort.Tensor;
  const data = first.data as Float32Array;
  if (job.task === 'classification') {
    let values = Array.from(data);
    if (job.softmax) {
      const max = Math.max(...values);
      const exp = values.map((v) => Math.exp(v - max));
      const sum = exp.reduce((a, b) => a + b, 0);
      values = exp.map((v) => v / sum);
    }
    const scores: Record<string, number> = {};
    job.labels.forEach((label, i) => {
      scores[label] = round(values[i] ?? 0, 4);
    });
    const ng = job.ngClasses.reduce((s, l) => s + (scores[l] ?? 0), 0);
    return { verdict: ng >= 0.5 ? 'NG' : ng < 0.2 ? 'OK' : 'UNCERTAIN', result: { scores } };
  }
  if (job.task === 'detection') {
    // yolov8 layout [1, 4+nc, N]: the best class per candidate, over the confidence
    const [, rows = 0, n = 0] = first.dims;
    const boxes: { label: string; score: number }[] = [];
    for (let a = 0; a < n; a++) {
      let best = 0;
      let cls = 0;
      for (let c = 4; c < rows; c++) {
        const v = data[c * n + a] as number;
        if (v > best) {
          best = v;
          cls = c - 4;
        }
      }
      if (best >= job.confidence) boxes.push({ label: job.labels[cls] ?? String(cls), score: best });
    }
    return { verdict: boxes.length > 0 ? 'NG' : 'OK', result: { detections: boxes.slice(0, 300) } };
  }
  const score = data[0] ?? 0;
  return { verdict: score >= 0.5 ? 'NG' : 'OK', result: { score } };
}

/**
 * Runs until `stop()` says so (the harness turns it on and off with SIGCONT / SIGSTOP and ends it with
 * SIGTERM; its rate and CPU are measured from outside). Returns each step's median ms per frame: a frame cut
 * by a SIGSTOP has one step that lasted seconds, which a median ignores and a mean would not.
 */
export async function runPlain(job: PlainJob, stop: () => boolean): Promise<PlainSteps> {
  const session = await ort.InferenceSession.create(job.modelPath);
  const db = new Database(job.dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS decisions (id TEXT PRIMARY KEY, ts INTEGER, verdict TEXT, payload TEXT)',
  );
  const insert = db.prepare('INSERT INTO decisions (id, ts, verdict, payload) VALUES (?, ?, ?, ?)');
  const client = await mqtt.connectAsync(job.brokerUrl, { clientId: `plain-${process.pid}` });
  const { input } = job;
  const steps: Record<keyof PlainSteps, number[]> = {
    read: [],
    decode: [],
    infer: [],
    store: [],
    publish: [],
  };
  for (let i = 0; !stop(); i++) {
    const triggeredAt = Date.now();
    const t0 = performance.now();
    const file = await readFile(job.files[i % job.files.length] as string);
    const t1 = performance.now();
    const { data: rgb } = await sharp(file)
      .resize(input.width, input.height, {
        fit: FIT[input.resize],
        background: { r: input.padValue, g: input.padValue, b: input.padValue },
      })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const dims =
      input.layout === 'NCHW' ? [1, 3, input.height, input.width] : [1, input.height, input.width, 3];
    const feeds = { [input.name]: new ort.Tensor('float32', toTensor(rgb, input), dims) };
    const t2 = performance.now();
    const outputs = await session.run(feeds);
    const t3 = performance.now();
    const { verdict, result } = verdictOf(job, outputs);
    const decision = {
      id: randomUUID(),
      cameraId: 'cam-1',
      triggeredAt,
      decidedAt: Date.now(),
      verdict,
      degraded: false,
      result,
    };
    const payload = JSON.stringify(decision);
    insert.run(decision.id, decision.decidedAt, verdict, payload);
    const t4 = performance.now();
    await client.publishAsync(job.topic, payload, { qos: 1 });
    const t5 = performance.now();
    steps.read.push(t1 - t0);
    steps.decode.push(t2 - t1);
    steps.infer.push(t3 - t2);
    steps.store.push(t4 - t3);
    steps.publish.push(t5 - t4);
  }
  await client.endAsync();
  db.close();
  await session.release();
  return {
    read: spread(steps.read).p50,
    decode: spread(steps.decode).p50,
    infer: spread(steps.infer).p50,
    store: spread(steps.store).p50,
    publish: spread(steps.publish).p50,
  };
}

// run as a script: the job is a JSON file named by the first argument; it runs until SIGTERM, then prints its
// steps' medians to stdout as one JSON line
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stopping = false;
  process.on('SIGTERM', () => {
    stopping = true;
  });
  runPlain(JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as PlainJob, () => stopping).then(
    (figures) => process.stdout.write(`${JSON.stringify(figures)}\n`, () => process.exit(0)),
    (err: unknown) => {
      process.stderr.write(`plain script failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
