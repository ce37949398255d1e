import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../service.js';

/** Pings at half the watchdog timeout, as sd_watchdog_enabled(3) advises: one late ping is not a restart. */
export const WATCHDOG_FRACTION = 0.5;

/**
 * The relay: reads one message per line from stdin (assignments separated by tabs) and hands each to
 * systemd's own `systemd-notify`. POSIX sh, so it runs wherever systemd does.
 */
const RELAY = [
  'set -f',
  'tab=$(printf "\\t")',
  'while IFS= read -r line; do',
  '  IFS=$tab; set -- $line; IFS=" "',
  '  "$0" "$@" || echo "edge-agent: $0 failed for $1" >&2',
  'done',
].join('\n');

/**
 * sd_notify(3) for the systemd unit (Type=notify, WatchdogSec): READY=1 once the agent has started, WATCHDOG=1
 * from a timer on the main event loop (a loop stuck for longer than WatchdogSec sends none, and systemd
 * restarts the service), STOPPING=1 on shutdown, STATUS= lines for `systemctl status`.
 *
 * Node has no AF_UNIX datagram sockets without a native addon, so messages go through `systemd-notify` (it
 * ships with systemd, so it is there wherever NOTIFY_SOCKET is). Spawning it from the agent costs a fork of
 * the whole process on the main thread (measured here: 28 ms p50 at 350 MB RSS), so one small relay shell is
 * started early, while the process is small, and each message is a line written to its stdin (67 us p50):
 * the ping stays a cheap write from the main loop, so a stuck loop still sends none. The sender systemd sees
 * is the relay's child, hence NotifyAccess=all in the unit; systemd-notify waits (BARRIER=1) until systemd
 * has read each message, so its PID is matched to the unit before it exits.
 * Without NOTIFY_SOCKET (a shell, a container) everything here is a no-op.
 */
export class SystemdNotifier {
  private readonly socket: string | undefined;
  /** The watchdog timeout systemd gave this process, or undefined when it gave none. */
  readonly watchdogMs: number | undefined;
  private timer: TimerHandle | undefined;
  private relay: ChildProcess | undefined;
  private broken = false;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly deps: { clock: Clock; log: Logger; command?: string },
  ) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited it must not ping
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogMs = this.socket && forUs && usec > 0 ? usec / 1000 : undefined;
  }

  get enabled(): boolean {
    return this.socket !== undefined && !this.broken;
  }

  /** Starts the relay and the WATCHDOG=1 pings (when systemd asked for them) on the main loop's clock. */
  startWatchdog(): void {
    if (!this.enabled || this.watchdogMs === undefined || this.timer) return;
    const every = Math.max(100, this.watchdogMs * WATCHDOG_FRACTION);
    this.timer = this.deps.clock.setInterval(() => this.send(['WATCHDOG=1']), every);
    this.send(['WATCHDOG=1']);
  }

  ready(status: string): void {
    this.send(['READY=1', `STATUS=${status}`, `MAINPID=${process.pid}`]);
  }

  status(status: string): void {
    this.send([`STATUS=${status}`]);
  }

  stopping(status = 'stopping: finishing parts in flight'): void {
    this.send(['STOPPING=1', `STATUS=${status}`]);
  }

  /** No more pings; the relay ends once it has passed on what it was given. */
  stop(): void {
    if (this.timer) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.relay?.stdin?.end();
    this.relay = undefined;
  }

  private send(assignments: string[]): void {
    if (!this.enabled) return;
    const relay = this.relay ?? this.startRelay();
    // a tab or a newline inside a value would split it: STATUS text is the only free text
    relay.stdin?.write(`${assignments.map((a) => a.replace(/[\t\n]/g, ' ')).join('\t')}\n`);
  }

  private startRelay(): ChildProcess {
    const command = this.deps.command ?? 'systemd-notify';
    const relay = spawn('sh', ['-c', RELAY, command], { stdio: ['pipe', 'ignore', 'pipe'] });
    relay.stderr?.setEncoding('utf8');
    relay.stderr?.on('data', (text: string) => this.deps.log.warn({ command }, text.trim().slice(0, 500)));
    relay.stdin?.on('error', () => {}); // a relay that died is reported by 'exit' below
    relay.once('exit', (code, signal) => {
      if (this.relay !== relay) return; // stopped on purpose
      // no more pings: systemd restarts the agent at the watchdog timeout, which is the right outcome
      this.broken = true;
      this.deps.log.error(
        { code, signal },
        'the systemd notify relay ended: no more READY/WATCHDOG messages',
      );
    });
    this.relay = relay;
    return relay;
  }
}
