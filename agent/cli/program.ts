import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/index.js';
import { describeError } from '../errors.js';
import { AGENT_VERSION } from '../version.js';

/** Exit statuses (CONTRACT section 1). A wrong command line is a failure (1): the contract's "0 / 1". */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** EX_CONFIG from sysexits.h: the unit's RestartPreventExitStatus, as restarting cannot fix a config. */
export const EXIT_CONFIG = 78;

/** Where a command writes and what it reads of its process: injected, so tests run commands in-process. */
export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** The process's own streams and environment. */
export function processContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** A command's parsed command line: its positional arguments and its options. */
export interface Invocation {
  args: string[];
  opts: Record<string, unknown>;
  ctx: CliContext;
}

/**
 * One command of `edge-agent`: a file that exports one of these, plus one line in agent/commands.ts. `name`
 * is its words (`run`, `model inspect`): a command under a group (`model`, `baseline`, `dataset`) creates
 * the group the first time. `define` adds arguments and options to commander's Command; `run` returns the
 * exit status. Throw UsageError for a bad argument value (exit 1 with the command's usage hint) and let
 * ConfigError through (exit 78): the program reports both.
 */
export interface CliCommand {
  name: string;
  summary: string;
  define?(command: Command): void;
  run(invocation: Invocation): Promise<number>;
}

/** A command line that cannot be run as given: its message, then a pointer to the command's --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Descriptions of command groups; a group not named here gets a generic one. */
const GROUPS: Record<string, string> = {
  config: 'the config file: its JSON Schema',
  model: 'model files: inspect (and validate)',
  baseline: 'drift baselines',
  dataset: 'kept frames and labels',
};

/** `-c FILE`: the contract's default is $EDGE_AGENT_CONFIG, else ./agent.yaml. */
export function configOption(): Option {
  return new Option('-c, --config <file>', 'config file (default: $EDGE_AGENT_CONFIG, else ./agent.yaml)');
}

export function configPathOf(opts: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  return (opts.config as string | undefined) ?? env.EDGE_AGENT_CONFIG ?? './agent.yaml';
}

/** The commander program for these commands; help on stdout, errors on stderr, never exits by itself. */
export function buildProgram(
  commands: readonly CliCommand[],
  ctx: CliContext,
  onRun: (c: CliCommand, i: Invocation) => void,
): Command {
  const program = new Command('edge-agent');
  const output = {
    writeOut: (s: string) => void ctx.stdout.write(s),
    writeErr: (s: string) => void ctx.stderr.write(s),
  };
  const setup = (c: Command) =>
    c
      .configureOutput(output)
      .exitOverride()
      .showSuggestionAfterError(true)
      .showHelpAfterError('(add --help for usage)');
  setup(program)
    .description('edge-vision-agent: camera frames -> ONNX models -> OK/NG verdicts -> SQLite -> MQTT')
    .version(AGENT_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText(
      'after',
      '\nExit status: 0 ok; 1 a failure, a problem found or a wrong command line; 78 bad config.\n' +
        'Logs are JSON lines on stdout (stderr for check); --pretty or a terminal gives readable ones.',
    );
  for (const spec of commands) {
    const words = spec.name.split(' ');
    let parent = program;
    for (const group of words.slice(0, -1)) {
      parent =
        parent.commands.find((c) => c.name() === group) ??
        setup(parent.command(group)).description(GROUPS[group] ?? `${group} commands`);
    }
    const command = setup(parent.command(words[words.length - 1] as string)).description(spec.summary);
    spec.define?.(command);
    command.action((...params: unknown[]) => {
      const self = params[params.length - 1] as Command;
      onRun(spec, { args: self.args, opts: self.opts(), ctx });
    });
  }
  return program;
}

/**
 * Parses argv and runs the command it names; returns the exit status. `--help` (any command) prints that
 * command's help on stdout and runs nothing; unknown commands and options are named on stderr with a
 * suggestion; a bad config is 78 with every problem listed; anything else that fails is 1 with its message
 * (no stack trace: the logs have it where it matters).
 */
export async function runCli(
  argv: readonly string[],
  commands: readonly CliCommand[],
  ctx: CliContext,
): Promise<number> {
  let chosen: { spec: CliCommand; invocation: Invocation } | undefined;
  const program = buildProgram(commands, ctx, (spec, invocation) => {
    chosen = { spec, invocation };
  });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_FAILURE;
    throw err;
  }
  if (!chosen) return EXIT_FAILURE;
  const { spec, invocation } = chosen;
  try {
    return await spec.run(invocation);
  } catch (err) {
    if (err instanceof ConfigError) {
      ctx.stderr.write(`bad config: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    if (err instanceof UsageError) {
      ctx.stderr.write(`error: ${err.message}\n(see edge-agent ${spec.name} --help)\n`);
      return EXIT_FAILURE;
    }
    ctx.stderr.write(`edge-agent ${spec.name}: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
}

/** A whole number option: `--runs 200`; anything else is a UsageError naming the option. */
export function intOption(opts: Record<string, unknown>, name: string, fallback: number, min = 1): number {
  const value = opts[name];
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${String(value)}`);
  return n;
}
