import t from 'tap';
import { readOnnxInfo, readUltralyticsMeta } from '../../../agent/inference/index.js';
import { buildModel } from '../../helpers/onnx-builder.js';

t.test('graph inputs, outputs, opset and metadata_props are read from the file', async (t) => {
  const info = readOnnxInfo(
    buildModel({
      input: { name: 'images', shape: ['batch', 3, 640, 640] },
      outputs: [{ name: 'output0', dims: [1, 84, 3], values: new Array(252).fill(0) }],
      metadata: { names: "{0: 'person', 1: 'bicycle'}", imgsz: '[640, 640]' },
      opset: 17,
    }),
    'm.onnx',
  );
  t.same(
    info.inputs,
    [{ name: 'images', type: 'float32', shape: ['batch', 3, 640, 640] }],
    'initializers are not inputs',
  );
  t.same(info.outputs, [{ name: 'output0', type: 'float32', shape: [1, 84, 3] }]);
  t.equal(info.opset, 17);
  t.equal(info.producer, 'edge-agent-test');
  t.same(info.metadata, { names: "{0: 'person', 1: 'bicycle'}", imgsz: '[640, 640]' });
  t.equal(info.precision, 'fp32');
});

t.test('precision: int8 QDQ and fp16 are recognised', async (t) => {
  const out = [{ name: 'y', dims: [1, 2], values: [0, 1] }];
  t.equal(readOnnxInfo(buildModel({ outputs: out, qdq: true }), 'q.onnx').precision, 'int8');
  t.equal(
    readOnnxInfo(
      buildModel({ input: { name: 'x', type: 'float16', shape: [1, 3, 8, 8] }, outputs: out }),
      'h.onnx',
    ).precision,
    'fp16',
  );
});

t.test('bytes that are not ONNX are refused with the file named', async (t) => {
  t.throws(() => readOnnxInfo(new TextEncoder().encode('GIF89a not a model at all'), 'x.onnx'), {
    code: 'EVA_ERR_MODEL_LOAD',
    message: /x\.onnx is not an ONNX model/,
  });
  t.throws(() => readOnnxInfo(new Uint8Array([8, 7]), 'y.onnx'), { message: /y\.onnx is not an ONNX model/ });
});

t.test('Ultralytics metadata: Python str() values parsed', async (t) => {
  const meta = readUltralyticsMeta({
    description: 'Ultralytics YOLO11n model trained on parts.yaml',
    stride: '32',
    task: 'detect',
    batch: '1',
    imgsz: '[384, 640]',
    names: `{0: 'scratch', 1: "o'ring", 2: 'dent \\'deep\\''}`,
    end2end: 'False',
  });
  t.same(meta, {
    names: ['scratch', "o'ring", "dent 'deep'"],
    imgsz: [384, 640],
    stride: 32,
    task: 'detection',
    end2end: false,
    description: 'Ultralytics YOLO11n model trained on parts.yaml',
  });
  t.same(readUltralyticsMeta({ task: 'classify', imgsz: '224' }), {
    task: 'classification',
    imgsz: [224, 224],
  });
  t.same(readUltralyticsMeta({ task: 'segment' }), { unsupportedTask: 'segment' });
  t.same(readUltralyticsMeta({}), {});
});
