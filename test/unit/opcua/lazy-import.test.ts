import Module from 'node:module';
import t from 'tap';
import { Agent } from '../../../agent/app.js';
import { parseConfigText } from '../../../agent/config/index.js';
import { SAMPLES, tempDir, WASHER_MODEL } from '../../helpers/agent-process.js';
import { quietLog } from '../../helpers/fixtures.js';

/** node-opcua is CommonJS: once anything imports it, its files are in the CommonJS module cache. */
const opcuaLoaded = () =>
  Object.keys((Module as unknown as { _cache: Record<string, unknown> })._cache).some((p) =>
    p.includes('/node_modules/node-opcua'),
  );

t.test(
  'node-opcua is loaded only when opcua.enabled (it costs about half a second of startup)',
  async (t) => {
    const dir = tempDir();
    const config = parseConfigText(
      `agent: { id: lazy }
store: { path: ${dir}/agent.db }
health: { listen: "127.0.0.1:0" }
models: [{ id: washer, path: ${WASHER_MODEL} }]
cameras: [{ id: cam-1, source: { type: folder, path: ${SAMPLES} }, trigger: { type: mqtt }, model: washer }]
`,
      'test',
      {},
    );
    t.ok(new Agent(config, { log: quietLog }), 'an agent without opcua built');
    t.notOk(opcuaLoaded(), 'the whole agent is imported and built, and node-opcua is not loaded');
    // the check itself can see node-opcua: the OPC UA service's module loads it when started
    await import('../../../agent/opcua/vision-server.js');
    t.ok(opcuaLoaded(), 'importing the server module loads it');
  },
);
