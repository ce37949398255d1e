import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../service.js';

/** Pings at half the watchdog timeout, as sd_watchdog_enabled(3) advises: one late ping is not a restart. */
export const WATCHDOG_FRACTION = 0.5;

type Spawn = (cmd: string, args: string[]) => ChildProcess;

/**
 * sd_notify(3) for the systemd unit (Type=notify, WatchdogSec): READY=1 once the agent has started, WATCHDOG=1
 * from a timer on the main event loop (a loop stuck for longer than WatchdogSec sends none, and systemd
 * restarts the service), STOPPING=1 on shutdown, STATUS= lines for `systemctl status`.
 *
 * Node has no AF_UNIX datagram sockets without a native addon, so each message goes through systemd's own
 * `systemd-notify` (it ships with systemd, so it is there wherever NOTIFY_SOCKET is): the unit sets
 * NotifyAccess=all, because the sender is that child, not the main PID, and systemd-notify waits (BARRIER=1)
 * until systemd has read the message, so it cannot exit before its PID is matched to the unit. A ping is a
 * spawn every WatchdogSec/2 (15 s with the shipped unit); a ping still in flight is not doubled.
 * Without NOTIFY_SOCKET (a shell, a container) everything here is a no-op.
 */
export class SystemdNotifier {
  private readonly socket: string | undefined;
  /** The watchdog timeout systemd gave this process, or undefined when it gave none. */
  readonly watchdogMs: number | undefined;
  private timer: TimerHandle | undefined;
  private pinging: ChildProcess | undefined;
  private broken = false;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly deps: { clock: Clock; log: Logger; spawn?: Spawn; command?: string },
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

  /** Starts the WATCHDOG=1 pings (when systemd asked for them) on the main loop's clock. */
  startWatchdog(): void {
    if (!this.enabled || this.watchdogMs === undefined || this.timer) return;
    const every = Math.max(100, this.watchdogMs * WATCHDOG_FRACTION);
    this.timer = this.deps.clock.setInterval(() => this.ping(), every);
    this.ping();
  }

  ready(status: string): void {
    this.send([`READY=1`, `STATUS=${status}`, `MAINPID=${process.pid}`]);
  }

  status(status: string): void {
    this.send([`STATUS=${status}`]);
  }

  /** STOPPING=1, and the pings stop once the process is about to exit (stop()). */
  stopping(status = 'stopping: finishing parts in flight'): void {
    this.send(['STOPPING=1', `STATUS=${status}`]);
  }

  stop(): void {
    if (this.timer) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  private ping(): void {
    if (this.pinging) return; // the last one is still being read by systemd: do not pile up children
    this.pinging = this.send(['WATCHDOG=1']);
    this.pinging?.once('exit', () => {
      this.pinging = undefined;
    });
  }

  private send(assignments: string[]): ChildProcess | undefined {
    if (!this.enabled) return undefined;
    const command = this.deps.command ?? 'systemd-notify';
    const child = (this.deps.spawn ?? defaultSpawn)(command, assignments);
    child.once('error', (err) => {
      // no systemd-notify: systemd will see no READY and fail the start, so say why once, loudly
      this.broken = true;
      this.stop();
      this.deps.log.error({ err, command }, `cannot notify systemd through ${command}: ${err.message}`);
    });
    child.once('exit', (code) => {
      if (code) this.deps.log.warn({ code, assignments: assignments[0] }, `${command} exited ${code}`);
    });
    return child;
  }
}

function defaultSpawn(cmd: string, args: string[]): ChildProcess {
  return spawn(cmd, args, { stdio: 'ignore' });
}
