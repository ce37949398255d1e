/**
 * The process: argv, signals, exit codes (CONTRACT section 1). Everything else is in app.ts and below.
 *   0 clean stop / all good; 1 start failure / a problem found; 78 bad config (EX_CONFIG).
 */
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
// sharp is loaded in the main thread before any worker exists, so its shared libraries stay mapped
import 'sharp';
import { Agent } from './app.js';
import { runBench } from './bench-cli.js';
import { runCheck } from './check.js';
import { type AgentConfig, ConfigError, configJsonSchema, loadConfigFile } from './config/index.js';
import { runBaselineCli } from './drift/index.js';
import { describeError } from './errors.js';
import { createRootLogger } from './logger.js';
import { inspectModel } from './model-inspect.js';
import { AGENT_VERSION } from './version.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 78;

const USAGE = `edge-agent ${AGENT_VERSION}

Usage:
  edge-agent run [-c FILE] [--pretty]       run until SIGINT/SIGTERM
  edge-agent check [-c FILE] [--json]       validate config, load models, probe cameras and broker
  edge-agent config schema                  print the config's JSON Schema
  edge-agent model inspect FILE.onnx [--json]
  edge-agent bench --model A.onnx [--model B.onnx ...] [--runs 200] [--workers N] [--providers cpu]
                   [--image FILE] [--json]      compare model variants' speed on this machine
  edge-agent baseline build [-c FILE] --camera ID --from DIR [--json]
                                            build a drift baseline from commissioning images
  edge-agent --version

-c defaults to $EDGE_AGENT_CONFIG, else ./agent.yaml.`;

async function main(argv: string[]): Promise<number> {
  // bench has options of its own (repeated --model), so it parses its arguments itself
  if (argv[0] === 'bench') return runBench(argv.slice(1));
  // drift's own command (agent/drift/baseline-cli.ts), with its own options
  if (argv[0] === 'baseline') return runBaselineCli(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean', default: false },
      pretty: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return EXIT_OK;
  }
  const [command, sub, arg] = positionals;
  const configPath = values.config ?? process.env.EDGE_AGENT_CONFIG ?? './agent.yaml';
  // `check` prints its report on stdout; its logs go to stderr so `check --json | jq` works
  const log = createRootLogger({
    pretty: values.pretty || process.stdout.isTTY === true,
    stderr: command === 'check',
  });

  switch (command) {
    case 'run':
      return withConfig(configPath, (config) => run(config, log));
    case 'check':
      return withConfig(configPath, (config) =>
        runCheck(config, log.child({ module: 'check' }), values.json),
      );
    case 'config':
      if (sub === 'schema') {
        process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
        return EXIT_OK;
      }
      break;
    case 'model':
      if (sub === 'inspect' && arg) return inspectModel(arg, values.json);
      break;
    default:
      break;
  }
  process.stderr.write(`${USAGE}\n`);
  return values.help ? EXIT_OK : EXIT_FAILURE;
}

async function withConfig(path: string, fn: (config: AgentConfig) => Promise<number>): Promise<number> {
  let config: AgentConfig;
  try {
    config = loadConfigFile(path);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`bad config: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  return fn(config);
}

/**
 * Signal handlers go in before anything starts, so a SIGTERM while models load still stops what had started
 * (and says `stopped` on the broker) and exits 0. A second signal while stopping is ignored.
 */
async function run(config: AgentConfig, log: Logger): Promise<number> {
  const stopRequested = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested.signal.aborted) {
      log.warn({ signal }, 'already stopping; signal ignored');
      return;
    }
    log.info({ signal }, 'stopping: finishing parts in flight');
    stopRequested.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let agent: Agent;
  try {
    agent = new Agent(config, { log });
    await agent.start(stopRequested.signal);
  } catch (err) {
    log.fatal({ err }, `agent failed to start: ${describeError(err)}`);
    return EXIT_FAILURE;
  }
  if (!stopRequested.signal.aborted) {
    await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve, { once: true }));
  }
  await agent.stop();
  return EXIT_OK;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // workers, timers and sockets are closed by now; exit explicitly so a stray handle cannot keep us up
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`edge-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
