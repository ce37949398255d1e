import type { Logger } from 'pino';
import {
  type CheckItem,
  checkBroker,
  checkCamera,
  checkDisk,
  checkListen,
  checkModel,
  checkPlc,
  checkStore,
} from './check-probes.js';
import { type CliCommand, configOption, configPathOf } from './cli/index.js';
import { type AgentConfig, loadConfigFile } from './config/index.js';
import { createRootLogger } from './logger.js';

export type { CheckItem } from './check-probes.js';

/** `edge-agent check` (CONTRACT section 1): 0 all good, 1 a problem found, 78 bad config. */
export const checkCommand: CliCommand = {
  name: 'check',
  summary:
    'validate the config, then try what run needs once: store, disk, HTTP port, broker, models, cameras, PLCs (creates and migrates nothing)',
  define: (c) =>
    c
      .addOption(configOption())
      .option('--json', 'print the report as one JSON object at the end')
      .option('--pretty', 'human-readable logs (on stderr)'),
  async run({ opts, ctx }) {
    const config = loadConfigFile(configPathOf(opts, ctx.env), ctx.env);
    // the report is stdout's; logs go to stderr so `check --json | jq` works
    const log = createRootLogger({ pretty: opts.pretty === true || ctx.stderr.isTTY === true, stderr: true });
    const json = opts.json === true;
    return runCheck(config, log.child({ module: 'check' }), (line) => {
      if (!json) ctx.stdout.write(line);
    }).then(({ ok, items }) => {
      if (json) ctx.stdout.write(`${JSON.stringify({ ok, items }, null, 2)}\n`);
      return ok ? 0 : 1;
    });
  },
};

/**
 * Everything `run` would need, tried once, in the order an operator fixes things: the fast local checks,
 * the broker, then the slow ones (models load and run their golden images; cameras deliver a frame). Each
 * result is written as it comes (`print`), so a slow model load does not hide what is already known.
 */
export async function runCheck(
  config: AgentConfig,
  log: Logger,
  print: (line: string) => void = (line) => process.stdout.write(line),
): Promise<{ ok: boolean; items: CheckItem[] }> {
  const items: CheckItem[] = [];
  const add = (item: CheckItem) => {
    items.push(item);
    const mark = !item.ok ? 'FAIL' : item.warning ? 'warn' : 'ok  ';
    print(`${mark}  ${item.kind} ${item.id}: ${item.detail}\n`);
  };
  print(
    `config: ${config.cameras.length} camera(s), ${config.models.length} model(s), agent ${config.agent.id}\n`,
  );
  add(checkStore(config));
  add(checkDisk(config));
  add(await checkListen(config));
  add(await checkBroker(config));
  for (const m of config.models) add(await checkModel(config, m, log));
  for (const c of config.cameras) add(await checkCamera(c, log));
  for (const c of config.cameras) if (c.plc) add(await checkPlc(c.id, c.plc));
  const ok = items.every((i) => i.ok);
  print(ok ? 'all good\n' : `${items.filter((i) => !i.ok).length} problem(s) found\n`);
  return { ok, items };
}
