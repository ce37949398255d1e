import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { benchModels, runBench } from '../../agent/bench-cli.js';
import { readOnnxInfo } from '../../agent/inference/index.js';
import { REPO } from '../helpers/agent-process.js';

const YOLO = join(REPO, 'test/fixtures/models/yolo');
const WASHER = join(REPO, 'models/washer/model.onnx');
const WASHER_INT8 = join(REPO, 'models/washer-int8/model.onnx');
const WASHER_FP16 = join(REPO, 'models/washer-fp16/model.onnx');

t.test('precision is read from the graph: fp32, fp16 weights, int8 QDQ nodes', async (t) => {
  t.equal(readOnnxInfo(readFileSync(WASHER), WASHER).precision, 'fp32');
  t.equal(readOnnxInfo(readFileSync(WASHER), WASHER).quantNodes, 0);
  const fp16 = readOnnxInfo(readFileSync(WASHER_FP16), WASHER_FP16);
  t.equal(fp16.precision, 'fp16');
  t.equal(fp16.weights.fp32, 0, 'no float32 weights left in the fp16 variant');
  const int8 = readOnnxInfo(readFileSync(WASHER_INT8), WASHER_INT8);
  t.equal(int8.precision, 'int8');
  t.ok(int8.quantNodes >= 10, `QDQ nodes counted (${int8.quantNodes})`);
  t.ok(int8.weights.int8 > int8.weights.fp32, 'the conv weights are stored as int8');
});

t.test('bench measures two models with worker threads and reports each against the first', async (t) => {
  const files = [join(YOLO, 'yolov8.onnx'), join(YOLO, 'yolov5.onnx')];
  const { report, failures } = await benchModels(files, {
    runs: 12,
    warmup: 2,
    workers: 2,
    threads: 1,
    providers: ['cpu'],
  });
  t.same(failures, []);
  t.match(report, { runs: 12, workers: 2, threads: 1, providers: ['cpu'], image: null });
  t.equal(report.models.length, 2);
  for (const [i, m] of report.models.entries()) {
    t.equal(m.file, files[i]);
    t.equal(m.precision, 'fp32');
    t.equal(m.provider, 'cpu');
    t.same(m.input, { name: 'images', type: 'float32', dims: [1, 3, 64, 64] });
    t.ok(m.inferenceMs.p50 > 0 && m.inferenceMs.p95 >= m.inferenceMs.p50, 'p50 <= p95, both measured');
    t.ok(m.framesPerSecond > 0);
    t.ok(m.speedupVsFirst > 0);
    t.equal(m.preprocessMs, null, 'no image given: a test pattern, no preprocessing');
  }
  t.equal(report.models[0]?.speedupVsFirst, 1, 'the first model is the reference');
  t.equal(report.models[0]?.maxAbsDiffVsFirst, 0);
  t.equal(report.models[1]?.maxAbsDiffVsFirst, null, 'outputs of another shape are not compared');
});

t.test('an image goes through the manifest preprocessing and variants are compared on it', async (t) => {
  const { report, failures } = await benchModels([WASHER, WASHER_INT8], {
    runs: 5,
    warmup: 1,
    workers: 1,
    threads: 1,
    providers: ['cpu'],
    image: join(REPO, 'models/washer/golden/dent-1.jpg'),
  });
  t.same(failures, []);
  const [fp32, int8] = report.models;
  t.equal(fp32?.precision, 'fp32');
  t.equal(int8?.precision, 'int8');
  t.same(int8?.input.dims, [1, 3, 128, 128]);
  t.ok((fp32?.preprocessMs ?? 0) > 0, 'preprocessing timed');
  const diff = int8?.maxAbsDiffVsFirst ?? Number.NaN;
  t.ok(diff > 0 && diff < 0.3, `int8 scores stay near fp32's (${diff})`);
});

t.test('a model that does not load is reported and the exit code is 1; bad arguments are 1', async (t) => {
  const { report, failures } = await benchModels([join(YOLO, 'missing.onnx'), join(YOLO, 'end2end.onnx')], {
    runs: 3,
    warmup: 1,
    workers: 1,
    threads: 0,
    providers: ['cpu'],
  });
  t.equal(failures.length, 1);
  t.match(failures[0]?.file, /missing\.onnx$/);
  t.equal(report.models.length, 1, 'the other model is still measured');
  t.equal(report.models[0]?.speedupVsFirst, 1);
  const writes: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => writes.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    t.equal(await runBench([]), 1);
    t.equal(await runBench(['--model', join(YOLO, 'yolov8.onnx'), '--runs', 'many']), 1);
  } finally {
    process.stderr.write = write;
  }
  t.match(writes.join(''), /at least one --model/);
  t.match(writes.join(''), /--runs must be an integer/);
});
