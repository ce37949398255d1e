import type { PlcConfig } from '../config/index.js';
import { AgentError, agentError, ErrorCodes } from '../errors.js';
import { backoffDelay, type Service, withTimeout } from '../service.js';
import { RecipeRegister } from './recipe-register.js';
import {
  decodePartId,
  ModbusClient,
  modbusErrorMessage,
  nextAcquisitionId,
  readBit,
  readWords,
} from './registers.js';
import { type ResultEntry, ResultHandshake } from './result-handshake.js';
import { ThrottledLog } from './throttled-log.js';
import type { PlcDeps, PlcStatus, PlcTrigger } from './types.js';

// A PLC that stops answering but keeps the socket open (CPU in STOP, a hung gateway) shows only as timeouts;
// three in a row (~1.5 s at the default timeout) is no longer one lost packet, so the socket is rebuilt.
const TIMEOUTS_BEFORE_RECONNECT = 3;

/**
 * The agent as Modbus TCP client of the line PLC, Cognex-style: trigger -> trigger ack (acquisition id) ->
 * inspection -> results + resultValid -> result ack or pulse end -> resultValid cleared (docs/plc.md).
 * One loop owns the connection, so requests never interleave. onTrigger runs at trigger time, since the
 * frame must be of this part; up to maxInFlight parts are judged at once and their results posted in order.
 */
export class ModbusPlc implements Service {
  readonly name = 'plc';
  private client: ModbusClient | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private sleeper: { wake: () => void; interruptible: boolean } | undefined;
  private connectAttempt = 0;
  private lastTrigger: boolean | number | undefined;
  private acquisitionId = 0;
  private readonly status: PlcStatus = {
    connected: false,
    lastError: null,
    triggers: 0,
    lastAcquisitionId: null,
    readErrors: 0,
    writeErrors: 0,
    reconnects: 0,
    overruns: 0,
    dropped: 0,
    inFlight: 0,
    resultQueue: 0,
    resultQueueMax: 0,
    resultBuffer: 0,
    recipe: null,
  };
  private readonly errors: ThrottledLog;
  private readonly results: ResultHandshake;
  private readonly recipes: RecipeRegister | undefined;
  /** Trigger counter and recipe register read in one request (offsets into the block), when close enough. */
  private readonly recipeBlock: { start: number; count: number; trigger: number; recipe: number } | undefined;

  constructor(
    private readonly config: PlcConfig,
    private readonly deps: PlcDeps,
  ) {
    this.errors = new ThrottledLog(deps.log, deps.clock);
    this.results = new ResultHandshake(config, { clock: deps.clock, log: deps.log, io: this.io });
    if (config.recipe && deps.recipes) {
      this.recipes = new RecipeRegister(config.recipe, deps.recipes, { log: deps.log, io: this.io });
    }
    this.recipeBlock = recipeBlockOf(config);
  }

  snapshot(): PlcStatus {
    return {
      ...this.status,
      dropped: this.results.dropped,
      inFlight: this.results.waiting,
      resultQueue: this.results.buffered,
      resultBuffer: this.config.resultBuffer,
      recipe: this.recipes?.snapshot() ?? null,
    };
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.halt(), { once: true });
    this.loop = this.run().catch((err: unknown) => this.deps.log.error({ err }, 'PLC loop failed'));
  }

  async stop(): Promise<void> {
    this.halt();
    // an in-flight request ends by its own timeout; this bound only guards against a library that never calls back
    if (this.loop) {
      const limitMs = this.config.timeoutMs * 2 + 1_000;
      await withTimeout(this.loop, limitMs, () =>
        agentError('SHUTDOWN_TIMEOUT', { part: 'PLC loop', ms: limitMs }),
      ).catch((err: unknown) =>
        this.deps.log.warn({ err }, 'PLC loop did not stop in time; closing the socket'),
      );
    }
    if (this.client) this.close(this.client);
  }

  private halt(): void {
    this.stopping = true;
    this.sleeper?.wake();
  }

  /** Cuts a poll pause short (never a reconnect backoff), so a finished result is posted at once. */
  private wake(): void {
    if (this.sleeper?.interruptible) this.sleeper.wake();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const client = await this.connect();
      if (client) {
        this.connectAttempt = 0;
        await this.session(client);
        this.close(client);
      }
      if (this.stopping) return;
      const delay = backoffDelay(
        this.connectAttempt++,
        this.config.reconnectMinMs,
        this.config.reconnectMaxMs,
      );
      await this.pause(delay, false);
      this.status.reconnects++;
    }
  }

  private async connect(): Promise<ModbusClient | undefined> {
    const { host, port, timeoutMs, unitId } = this.config;
    const client = new ModbusClient();
    client.setTimeout(timeoutMs);
    client.setID(unitId);
    // without a listener, a socket error would be an unhandled 'error' event and kill the process
    client.on('error', (err) => this.errors.warn('socket', modbusErrorMessage(err), { host, port }));
    client.on('close', () => this.wake());
    this.client = client;
    try {
      await withTimeout(
        client.connectTCP(host, { port }),
        timeoutMs + 500,
        () => new AgentError(ErrorCodes.PLC_IO, 'connect timed out'),
      );
      return client;
    } catch (err) {
      const message = modbusErrorMessage(err);
      this.status.lastError = `connect: ${message}`;
      this.errors.warn('connect', message, { host, port, code: ErrorCodes.PLC_IO });
      this.close(client);
      return undefined;
    }
  }

  private close(client: ModbusClient): void {
    client.destroy(() => undefined);
    if (this.client === client) this.client = undefined;
  }

  private async session(client: ModbusClient): Promise<void> {
    this.lastTrigger = undefined;
    this.recipes?.reset();
    try {
      // the first read is a baseline: a part already present or a counter already moved is no trigger
      await this.readTrigger(client);
    } catch {
      return; // counted and logged by io(); run() backs off and reconnects
    }
    await this.results.begin(client);
    this.errors.clear('connect');
    this.status.connected = true;
    this.status.lastError = null;
    this.deps.log.info({ host: this.config.host, port: this.config.port }, 'connected to the PLC');
    let timeouts = 0;
    while (!this.stopping && client.isOpen) {
      try {
        await this.pollLine(client);
        await this.results.service(client);
        timeouts = 0;
      } catch (err) {
        if (timedOut(err) && ++timeouts >= TIMEOUTS_BEFORE_RECONNECT) break;
      }
      await this.pause(this.config.pollMs, true);
    }
    this.status.connected = false;
    if (!this.stopping) this.deps.log.warn({ host: this.config.host }, 'lost the PLC; reconnecting');
    this.results.dropAll();
  }

  /**
   * One poll of the line: the trigger, then the recipe register, then the part. The recipe is read after
   * the trigger and acted on before the part is handed over, so a recipe number the PLC wrote before or in
   * the same scan as the trigger always applies to that part; with the recipe register within
   * RECIPE_BLOCK_SPAN of a trigger counter both are read in one request, one consistent PLC scan.
   */
  private async pollLine(client: ModbusClient): Promise<void> {
    const fired = await this.readTrigger(client);
    // a recipe register that fails (counted and logged by io()) never keeps a part from being judged
    await this.recipes?.poll(client, !this.recipeBlock).catch(() => undefined);
    if (fired !== undefined) await this.trigger(client, fired);
  }

  /** The acquisition id of a new trigger, or undefined; the first read of a session is only a baseline. */
  private async readTrigger(client: ModbusClient): Promise<number | undefined> {
    const t = this.config.trigger;
    if (t.mode === 'partPresent') {
      const level = await this.io('read', 'trigger', () => readBit(client, t.table, t.address));
      const rising = level && this.lastTrigger === false;
      this.lastTrigger = level;
      return rising ? nextAcquisitionId(this.acquisitionId) : undefined;
    }
    const block = this.recipeBlock;
    const words = await this.io('read', 'trigger', () =>
      block ? readWords(client, block.start, block.count) : readWords(client, t.address, 1),
    );
    if (block) this.recipes?.seen(words[block.recipe] ?? 0);
    const value = words[block ? block.trigger : 0] ?? 0;
    const previous = this.lastTrigger;
    this.lastTrigger = value;
    return previous !== undefined && value !== previous ? value : undefined;
  }

  private async trigger(client: ModbusClient, acquisitionId: number): Promise<void> {
    const triggeredAt = this.deps.clock.now();
    this.acquisitionId = acquisitionId;
    this.status.triggers++;
    this.status.lastAcquisitionId = acquisitionId;
    const { judging, buffered } = this.results;
    if (judging >= this.config.maxInFlight || buffered >= this.config.resultBuffer) {
      this.status.overruns++;
      this.deps.log.warn(
        { acquisitionId, judging, buffered },
        judging >= this.config.maxInFlight
          ? 'PLC trigger overrun: maxInFlight parts still being judged; this part is not captured and gets no result'
          : 'PLC trigger overrun: the result buffer is full (the PLC takes no results); this part is not captured',
      );
    } else {
      const partId = await this.readPartId(client);
      const entry = this.results.enqueue(acquisitionId);
      this.judge(entry, { acquisitionId, triggeredAt, ...(partId !== undefined ? { partId } : {}) });
    }
    // the ack goes out even on overrun, so the PLC's trigger handshake never stalls on us
    await this.io('write', 'triggerAck', () =>
      client.writeRegister(this.config.outputs.acquisitionId, acquisitionId),
    ).then(
      () => undefined,
      () => undefined, // counted and logged by io(); the result handshake still runs
    );
  }

  private judge(entry: ResultEntry, t: PlcTrigger): void {
    this.deps.onTrigger(t).then(
      (result) => {
        entry.result = result;
        this.status.resultQueueMax = Math.max(this.status.resultQueueMax, this.results.buffered);
        this.wake();
      },
      (err: unknown) => {
        this.deps.log.error({ err, acquisitionId: t.acquisitionId }, 'onTrigger failed; posting a reject');
        entry.result = { verdict: 'ERROR', degraded: true, seq: -1 };
        this.wake();
      },
    );
  }

  private async readPartId(client: ModbusClient): Promise<string | undefined> {
    const spec = this.config.partId;
    if (!spec) return undefined;
    try {
      const words = await this.io('read', 'partId', () => readWords(client, spec.address, spec.count));
      return decodePartId(words, spec);
    } catch {
      return undefined; // counted and logged by io(); the part is still judged, only without its id
    }
  }

  /**
   * Runs one Modbus exchange; a failure is counted and logged (rate-limited), then rethrown coded
   * EVA_ERR_PLC_IO with the library's error as its cause.
   */
  private readonly io = async <T>(kind: 'read' | 'write', op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      const value = await fn();
      this.errors.clear(op);
      return value;
    } catch (err) {
      const message = modbusErrorMessage(err);
      if (kind === 'read') this.status.readErrors++;
      else this.status.writeErrors++;
      this.status.lastError = `${op}: ${message}`;
      this.errors.warn(op, message, { host: this.config.host, code: ErrorCodes.PLC_IO });
      throw agentError('PLC_IO', { op, detail: message }, { cause: err });
    }
  };

  /** Sleeps for ms; stop() always cuts it short, wake() only when interruptible. */
  private pause(ms: number, interruptible: boolean): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimeout(() => {
        this.sleeper = undefined;
        resolve();
      }, ms);
      const wake = () => {
        this.deps.clock.clearTimeout(timer);
        this.sleeper = undefined;
        resolve();
      };
      this.sleeper = { wake, interruptible };
    });
  }
}

/** How far apart a trigger counter and the recipe register may be to be read in one request. */
export const RECIPE_BLOCK_SPAN = 16;

function recipeBlockOf(config: PlcConfig) {
  const t = config.trigger;
  const r = config.recipe;
  if (!r || t.mode !== 'triggerRegister' || Math.abs(r.address - t.address) >= RECIPE_BLOCK_SPAN)
    return undefined;
  const start = Math.min(r.address, t.address);
  return {
    start,
    count: Math.abs(r.address - t.address) + 1,
    trigger: t.address - start,
    recipe: r.address - start,
  };
}

/** A Modbus request io() gave up on because the PLC did not answer in time (modbus-serial's ETIMEDOUT). */
function timedOut(err: unknown): boolean {
  if (!(err instanceof AgentError) || err.code !== ErrorCodes.PLC_IO) return false;
  return (err.cause as { errno?: unknown } | null | undefined)?.errno === 'ETIMEDOUT';
}
