import { Writable } from 'node:stream';
import t from 'tap';
import { type CliCommand, type CliContext, runCli, UsageError } from '../../../agent/cli/index.js';
import { COMMANDS } from '../../../agent/commands.js';
import { AGENT_VERSION } from '../../../agent/version.js';

/**
 * Issue #15: the command line as a user meets it. `run --help` started the agent, `check --help` ran the
 * check, `bench --help` exited 1, `--verbose` printed a stack trace, help went to stderr. Run in-process
 * against the real command table, with stdout and stderr captured.
 */

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
      env: { EDGE_AGENT_CONFIG: '/nonexistent/never-read.yaml' },
    },
    out: () => out,
    err: () => err,
  };
}

async function cli(...argv: string[]) {
  const c = capture();
  const code = await runCli(argv, COMMANDS, c.ctx);
  return { code, out: c.out(), err: c.err() };
}

for (const command of ['run', 'check', 'bench', 'config schema', 'model inspect']) {
  t.test(`${command} --help prints its help on stdout, exits 0 and runs nothing`, async (t) => {
    const r = await cli(...command.split(' '), '--help');
    t.equal(r.code, 0);
    t.match(r.out, new RegExp(`^Usage: edge-agent ${command}`));
    t.equal(r.err, '', 'nothing on stderr: the command did not run (it would have read the missing config)');
  });
}

t.test('help COMMAND and -h are the same help; the program help lists every command', async (t) => {
  const viaHelp = await cli('help', 'check');
  const viaFlag = await cli('check', '-h');
  t.equal(viaHelp.code, 0);
  t.equal(viaHelp.out, viaFlag.out);
  const top = await cli('--help');
  t.equal(top.code, 0);
  for (const name of ['run', 'check', 'config', 'model', 'bench'])
    t.match(top.out, new RegExp(`\\n  ${name}\\b`));
  t.match(top.out, /78 bad config/);
});

t.test('--version prints the version on stdout', async (t) => {
  const r = await cli('--version');
  t.equal(r.code, 0);
  t.equal(r.out, `${AGENT_VERSION}\n`);
});

t.test('an unknown option is named with a suggestion, on stderr, exit 1, no stack trace', async (t) => {
  const verbose = await cli('--verbose');
  t.equal(verbose.code, 1);
  t.match(verbose.err, /error: unknown option '--verbose'/);
  t.notMatch(verbose.err, /\n\s+at /, 'no stack trace');
  t.equal(verbose.out, '');
  const typo = await cli('check', '--jsn');
  t.equal(typo.code, 1);
  t.match(typo.err, /unknown option '--jsn'\n\(Did you mean --json\?\)/);
});

t.test('an unknown command is named with a suggestion', async (t) => {
  const r = await cli('chek');
  t.equal(r.code, 1);
  t.match(r.err, /unknown command 'chek'\n\(Did you mean check\?\)/);
  const sub = await cli('model', 'inspekt', 'x.onnx');
  t.equal(sub.code, 1);
  t.match(sub.err, /unknown command 'inspekt'/);
});

t.test('no command, or a group alone, prints the help on stderr and exits 1', async (t) => {
  const none = await cli();
  t.equal(none.code, 1);
  t.match(none.err, /Usage: edge-agent \[options\] \[command\]/);
  const group = await cli('model');
  t.equal(group.code, 1);
  t.match(group.err, /inspect/);
});

t.test('a missing argument and a bad option value are named', async (t) => {
  const missing = await cli('model', 'inspect');
  t.equal(missing.code, 1);
  t.match(missing.err, /missing required argument 'file'/);
  const runs = await cli('bench', '--model', 'a.onnx', '--runs', 'many');
  t.equal(runs.code, 1);
  t.match(runs.err, /--runs must be an integer >= 1, got many\n\(see edge-agent bench --help\)/);
});

t.test('a bad config is exit 78 with every problem, for run and check alike', async (t) => {
  for (const command of ['run', 'check']) {
    const r = await cli(command, '-c', '/nonexistent/agent.yaml');
    t.equal(r.code, 78, command);
    t.match(r.err, /^bad config: \/nonexistent\/agent\.yaml: 1 problem\(s\)\n.*cannot read the config file/);
  }
});

t.test('a command is one CliCommand; a group is created by its first command', async (t) => {
  const seen: string[] = [];
  const build: CliCommand = {
    name: 'baseline build',
    summary: 'build a drift baseline',
    define: (c) => c.requiredOption('--camera <id>', 'the camera'),
    run: async ({ opts }) => {
      seen.push(String(opts.camera));
      if (opts.camera === 'bad') throw new UsageError('no camera "bad"');
      return 0;
    },
  };
  // a stand-in for the real `baseline build` (drift's), so the test owns what it runs
  const commands = [...COMMANDS.filter((x) => x.name !== build.name), build];
  const c = capture();
  t.equal(await runCli(['baseline', 'build', '--camera', 'cam-1'], commands, c.ctx), 0);
  t.same(seen, ['cam-1']);
  t.equal(await runCli(['baseline', 'build', '--camera', 'bad'], commands, c.ctx), 1);
  t.match(c.err(), /error: no camera "bad"\n\(see edge-agent baseline build --help\)/);
  const help = capture();
  await runCli(['--help'], commands, help.ctx);
  t.match(help.out(), /\n {2}baseline\b/);
});

t.test('a command that throws is one line on stderr, exit 1', async (t) => {
  const boom: CliCommand = {
    name: 'boom',
    summary: 'fails',
    run: async () => {
      throw new Error('disk on fire');
    },
  };
  const c = capture();
  t.equal(await runCli(['boom'], [boom], c.ctx), 1);
  t.equal(c.err(), 'edge-agent boom: disk on fire\n');
});
