import t from 'tap';
import { ConfigError, parseConfigText } from '../../../agent/config/index.js';
import { RecipeBook } from '../../../agent/recipes/index.js';

const base = `agent: { id: cell-1 }
models:
  - { id: washer, path: m.onnx }
  - { id: washer-int8, path: m8.onnx }
cameras:
  - { id: cam-1, source: { type: synthetic }, trigger: { type: mqtt }, model: washer, deadlineMs: 300, rules: { ngClasses: [scratch, dent], minScore: 0.5, uncertainBelow: 0.2, roi: [0, 0, 100, 100] } }
  - { id: cam-2, source: { type: synthetic }, trigger: { type: mqtt }, model: washer }
`;

function problemsOf(text: string) {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('config was accepted');
}

t.test(
  'CONTRACT section 2 recipes: parsed, defaults, and each camera`s keys merged under a recipe',
  async (t) => {
    const config = parseConfigText(
      `${base}recipes:
  - id: product-a
    number: 1
    cameras:
      cam-1: { model: washer, rules: { ngClasses: [scratch, dent] }, deadlineMs: 250 }
  - id: product-b
    number: 2
    preload: true
    cameras:
      cam-1: { model: washer-int8, rules: { ngClasses: [dent], minScore: 0.6, roi: [10, 10, 50, 50] } }
activeRecipe: product-a
opcua: { enabled: false, port: 4840 }
`,
      'test.yaml',
      {},
    );
    t.same(config.opcua, {
      enabled: false,
      port: 4840,
      securityModes: ['signAndEncrypt'],
      autoAcceptClientCertificates: false,
      allowAnonymous: true,
      users: [],
    });
    const book = new RecipeBook(config);
    const a = book.find('product-a');
    const b = book.find(2);
    t.same(book.setting(a, 'cam-1'), {
      modelId: 'washer',
      rules: { ngClasses: ['scratch', 'dent'], minScore: 0.5, uncertainBelow: 0.2, roi: [0, 0, 100, 100] },
      deadlineMs: 250,
    });
    t.same(
      book.setting(b, 'cam-1'),
      {
        modelId: 'washer-int8',
        rules: { ngClasses: ['dent'], minScore: 0.6, uncertainBelow: 0.2, roi: [10, 10, 50, 50] },
        deadlineMs: 300,
      },
      'only the keys the recipe names change; the deadline stays the camera`s',
    );
    t.same(book.setting(b, 'cam-2').modelId, 'washer', 'a camera the recipe does not name keeps its own');
    t.same([...book.managedModels()].sort(), ['washer', 'washer-int8']);
    t.same([...book.wanted(a)].sort(), ['washer', 'washer-int8'], 'product-b is preloaded');
    t.equal(book.longestDeadline(a), 1000, 'cam-2`s default deadline');
    t.throws(() => book.find('product-z'), {
      code: 'EVA_ERR_RECIPE_UNKNOWN',
      message: /known: product-a \(1\), product-b \(2\)/,
    });
    t.throws(() => book.find(7), { message: /unknown recipe number 7/ });
  },
);

t.test('recipe mistakes are all reported at once, with their key paths', async (t) => {
  const problems = problemsOf(`${base}recipes:
  - { id: product-a, number: 1, cameras: { cam-9: { model: washer } } }
  - { id: product-a, number: 1, cameras: { cam-1: { model: bolt, rules: { uncertainBelow: 0.7 } } } }
  - { id: product-c, number: 0, cameras: { cam-1: { colour: red } } }
activeRecipe: product-x
opcua: { allowAnonymous: false, securityModes: [none, none] }
`);
  t.match(problems, [
    /recipes\[0\]\.cameras\.cam-9: no camera with id "cam-9"/,
    /recipes\[1\]\.id: duplicate recipe id "product-a"/,
    /recipes\[1\]\.number: recipe number 1 is used twice/,
    /recipes\[1\]\.cameras\.cam-1\.model: no model with id "bolt"/,
    /recipes\[1\]\.cameras\.cam-1\.rules: .*uncertainBelow 0\.7 above minScore 0\.5/,
  ]);
  const all = problems.join('\n');
  t.match(all, /recipes\[2\]\.number: .*>=1/i);
  t.match(all, /recipes\[2\]\.cameras\.cam-1\.colour: unknown key/);
  t.match(all, /activeRecipe: no recipe with id "product-x"/);
  t.match(all, /opcua\.users: required when allowAnonymous is false/);
  t.match(all, /opcua\.securityModes: lists a mode twice/);
});

t.test('a PLC recipe register needs recipes, and may not share a register', async (t) => {
  const plcCamera = (recipe: string) => `agent: { id: cell-1 }
models: [{ id: washer, path: m.onnx }]
cameras:
  - { id: cam-1, source: { type: synthetic }, trigger: { type: plc }, model: washer, plc: { host: plc, trigger: { mode: triggerRegister, address: 0 }, recipe: ${recipe} } }
`;
  t.match(
    problemsOf(plcCamera('{ address: 20, echo: 21 }')).join('\n'),
    /cameras\[0\]\.plc\.recipe: needs recipes/,
  );
  t.match(
    problemsOf(plcCamera('{ address: 0, echo: 100 }')).join('\n'),
    /holding register (0|100) is used twice/,
    'the recipe register on the trigger counter, the echo on the acquisition id',
  );
});
