import type { Logger } from 'pino';
import { Agent } from './app.js';
import {
  type CliCommand,
  configOption,
  configPathOf,
  EXIT_FAILURE,
  EXIT_OK,
  SystemdNotifier,
} from './cli/index.js';
import { type AgentConfig, loadConfigFile } from './config/index.js';
import { describeError } from './errors.js';
import { createRootLogger } from './logger.js';
import { systemClock } from './service.js';

/** `edge-agent run`: runs the agent until SIGINT/SIGTERM, then drains and stops (CONTRACT section 1). */
export const runCommand: CliCommand = {
  name: 'run',
  summary:
    'run the agent until SIGINT/SIGTERM, then drain and stop (0 clean stop, 1 start failure, 78 bad config)',
  define: (c) =>
    c.addOption(configOption()).option('--pretty', 'human-readable logs (default on a terminal)'),
  async run({ opts, ctx }) {
    const config = loadConfigFile(configPathOf(opts, ctx.env), ctx.env);
    const log = createRootLogger({ pretty: opts.pretty === true || ctx.stdout.isTTY === true });
    return runAgent(
      config,
      log,
      new SystemdNotifier(ctx.env, { clock: systemClock, log: log.child({ module: 'systemd' }) }),
    );
  },
};

/**
 * Signal handlers go in before anything starts, so a SIGTERM while models load still stops what had started
 * (and says `stopped` on the broker) and exits 0. A second signal while stopping is ignored. systemd hears
 * READY once every stage is up, WATCHDOG pings from the main loop from the start (a long model load is no
 * stall), and STOPPING at the first signal.
 */
export async function runAgent(config: AgentConfig, log: Logger, systemd: SystemdNotifier): Promise<number> {
  const stopRequested = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested.signal.aborted) {
      log.warn({ signal }, 'already stopping; signal ignored');
      return;
    }
    log.info({ signal }, 'stopping: finishing parts in flight');
    systemd.stopping();
    stopRequested.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  systemd.startWatchdog();
  systemd.status('starting: store, broker, models, cameras');
  let agent: Agent;
  try {
    agent = new Agent(config, { log });
    await agent.start(stopRequested.signal);
  } catch (err) {
    log.fatal({ err }, `agent failed to start: ${describeError(err)}`);
    systemd.stop();
    return EXIT_FAILURE;
  }
  if (!stopRequested.signal.aborted) {
    systemd.ready(`running: ${agent.cameras.size} camera(s), ${agent.models.size} model(s)`);
    await new Promise((resolve) => stopRequested.signal.addEventListener('abort', resolve, { once: true }));
  }
  await agent.stop();
  systemd.stop();
  return EXIT_OK;
}
