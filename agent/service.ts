/** What every long-lived part of the agent implements: started in dependency order, stopped in reverse. */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  /** How long `stop()` may take before shutdown moves on (default: the lifecycle's STOP_TIMEOUT_MS). */
  readonly stopTimeoutMs?: number;
}

export type TimerHandle = { readonly __timer: unique symbol } | ReturnType<typeof setTimeout>;

/** Time is injected wherever behaviour depends on it (deadlines, retries, windows) so tests need not sleep. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Calls `fn` every `ms` until cleared; the first call is `ms` from now. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  // periodic work here is background work (probes, reports, checkpoints): it never keeps the process alive
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** Resolves after `ms`, or rejects with the signal's reason when aborted first. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits until `done()` holds or `timeoutMs` has passed on the clock; says whether it held. For work that
 * gives no signal when it ends and moves in real time elsewhere (worker threads, a broker's PUBACKs): it is
 * looked at every `everyMs` of real time, so its end is seen whatever the clock does, while how long the
 * wait may last is the clock's (under a test's ManualClock, the test decides when it gives up).
 */
export async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
  everyMs: number,
  clock: Clock = systemClock,
): Promise<boolean> {
  const until = clock.now() + timeoutMs;
  while (!done()) {
    if (clock.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}

/** Races `work` against a timeout; the timeout rejects with `makeError()`. The timer never outlives the race. */
export async function withTimeout<T>(work: Promise<T>, ms: number, makeError: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(makeError()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Exponential backoff with +-20 % jitter, so a fleet of agents does not reconnect in lockstep. */
export function backoffDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
) {
  const base = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.8 + 0.4 * random()));
}
