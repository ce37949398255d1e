import { ServerTCP } from 'modbus-serial';
import t, { type Test } from 'tap';
import { type PlcConfigInput, plcConfigSchema } from '../../../agent/config/index.js';
import { ModbusPlc, type PlcTrigger, type VerdictLike } from '../../../agent/plc/index.js';
import { systemClock } from '../../../agent/service.js';
import { quietLog } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';

/** The PLC's memory as the test sees it, plus every write the agent made, in order. */
class PlcMemory {
  coils: boolean[] = [];
  discrete: boolean[] = [];
  holding: number[] = [];
  writes: string[] = [];
  discreteReads = 0;
  /** A PLC that keeps the socket open but stops answering (CPU in STOP, a hung gateway). */
  hung = false;

  vector() {
    return {
      getCoil: (addr: number) => this.coils[addr] ?? false,
      getDiscreteInput: (addr: number) => {
        this.discreteReads++;
        if (this.hung) return new Promise<boolean>(() => {});
        return this.discrete[addr] ?? false;
      },
      getHoldingRegister: (addr: number) => this.holding[addr] ?? 0,
      getInputRegister: () => 0,
      setCoil: (addr: number, value: boolean) => {
        this.coils[addr] = value;
        this.writes.push(`coil ${addr}=${value ? 1 : 0}`);
      },
      setRegister: (addr: number, value: number) => {
        this.holding[addr] = value;
        this.writes.push(`hr ${addr}=${value}`);
      },
    };
  }

  setAscii(address: number, text: string, registers: number): void {
    const bytes = Buffer.alloc(registers * 2);
    bytes.write(text, 'latin1');
    for (let i = 0; i < registers; i++) this.holding[address + i] = bytes.readUInt16BE(i * 2);
  }
}

// the default output map: ok, ng, resultValid coils 0-2; acquisitionId in holding register 100
const OK = 0;
const NG = 1;
const VALID = 2;
const ACQ = 100;

async function startPlc(memory: PlcMemory, port: number): Promise<{ stop(): Promise<void> }> {
  const server = new ServerTCP(memory.vector(), { host: '127.0.0.1', port, unitID: 1 });
  server.on('socketError', () => undefined); // the agent's socket dropping during restarts is expected
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', reject);
  });
  return { stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function setup(
  t: Test,
  plc: Omit<PlcConfigInput, 'host' | 'port'>,
  judge: (t: PlcTrigger) => Promise<VerdictLike>,
) {
  const memory = new PlcMemory();
  const port = await freePort();
  let server = await startPlc(memory, port);
  const triggers: PlcTrigger[] = [];
  const config = plcConfigSchema.parse({
    host: '127.0.0.1',
    port,
    pollMs: 10,
    timeoutMs: 300,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    ...plc,
  });
  const agent = new ModbusPlc(config, {
    clock: systemClock,
    log: quietLog,
    onTrigger: (trigger) => {
      triggers.push(trigger);
      return judge(trigger);
    },
  });
  const abort = new AbortController();
  await agent.start(abort.signal);
  t.teardown(async () => {
    abort.abort();
    await agent.stop();
    await server.stop();
  });
  await waitFor(() => agent.snapshot().connected, 5_000, 'the agent to connect to the PLC');
  return {
    memory,
    agent,
    triggers,
    restart: async () => {
      await server.stop();
      await waitFor(() => !agent.snapshot().connected, 5_000, 'the agent to notice the PLC is gone');
      // stay down until a reconnect attempt has been refused, so the backoff path runs too
      await waitFor(() => agent.snapshot().lastError?.startsWith('connect'), 5_000, 'a refused reconnect');
      server = await startPlc(memory, port);
    },
  };
}

const verdict = (v: VerdictLike['verdict'], seq: number, degraded = false): VerdictLike => ({
  verdict: v,
  degraded,
  seq,
});
const later = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

t.test(
  'part-present edge: part id read, verdict posted before resultValid, acquisition id echoed',
  async (t) => {
    const verdicts = [verdict('OK', 1), verdict('NG', 2)];
    const { memory, agent, triggers } = await setup(
      t,
      {
        trigger: { mode: 'partPresent', table: 'discrete', address: 0 },
        partId: { address: 10, count: 4 },
        outputs: { resultId: 101 },
      },
      async () => later(30, verdicts.shift() ?? verdict('ERROR', 0)),
    );
    memory.setAscii(10, 'P-000042', 4);
    memory.discrete[0] = true;
    await waitFor(() => memory.coils[VALID], 5_000, 'resultValid for the first part');
    t.match(triggers[0], { partId: 'P-000042', acquisitionId: 1 });
    t.equal(memory.coils[OK], true, 'OK -> ok=1');
    t.equal(memory.coils[NG], false, 'OK -> ng=0');
    t.equal(memory.holding[ACQ], 1, 'trigger acked with the acquisition id');
    t.equal(memory.holding[101], 1, 'the result names its acquisition');
    const validAt = memory.writes.lastIndexOf(`coil ${VALID}=1`);
    t.ok(
      memory.writes.lastIndexOf(`coil ${OK}=1`) < validAt &&
        memory.writes.lastIndexOf(`coil ${NG}=0`) < validAt,
    );

    await waitFor(() => memory.coils[VALID] === false, 5_000, 'the resultValid pulse to end');
    const reads = memory.discreteReads;
    memory.discrete[0] = false;
    // two reads started after the change: at least one of them saw the part gone
    await waitFor(() => memory.discreteReads >= reads + 2, 5_000, 'the agent to see the part leave');
    memory.setAscii(10, 'P-43', 4);
    memory.discrete[0] = true;
    await waitFor(
      () => triggers.length === 2 && memory.coils[VALID],
      5_000,
      'resultValid for the second part',
    );
    t.match(triggers[1], { partId: 'P-43', acquisitionId: 2 });
    t.equal(memory.coils[OK], false, 'NG -> ok=0');
    t.equal(memory.coils[NG], true, 'NG -> ng=1');
    t.equal(memory.holding[ACQ], 2);
    t.match(agent.snapshot(), { triggers: 2, lastAcquisitionId: 2, writeErrors: 0, dropped: 0 });
  },
);

t.test(
  'trigger-register counter: new value triggers, is echoed, and resultValid waits for the ack',
  async (t) => {
    const { memory, triggers } = await setup(
      t,
      {
        trigger: { mode: 'triggerRegister', address: 0 },
        resultAck: { table: 'discrete', address: 5 },
        resultValidMs: 30_000,
      },
      async (trigger) => verdict('OK', trigger.acquisitionId),
    );
    memory.holding[0] = 7;
    await waitFor(() => memory.coils[VALID], 5_000, 'resultValid for counter 7');
    t.match(triggers, [{ acquisitionId: 7 }]);
    t.equal(memory.holding[ACQ], 7, 'the counter is echoed to the ack register');
    t.equal(memory.coils[OK], true);
    memory.discrete[5] = true;
    await waitFor(() => memory.coils[VALID] === false, 5_000, 'resultValid cleared by the ack');
    memory.discrete[5] = false;
    memory.holding[0] = 8;
    await waitFor(() => memory.holding[ACQ] === 8 && memory.coils[VALID], 5_000, 'resultValid for counter 8');
    t.match(triggers, [{ acquisitionId: 7 }, { acquisitionId: 8 }]);
  },
);

t.test('a deadline miss posts the degraded fallback as NG', async (t) => {
  // the lead's onTrigger races the camera deadline and resolves with a degraded UNCERTAIN when it loses
  const { memory, agent } = await setup(
    t,
    { trigger: { mode: 'triggerRegister', address: 0 }, uncertainAs: 'ok' },
    async () => later(150, verdict('UNCERTAIN', 9, true)),
  );
  memory.coils[OK] = true; // a previous part's pass must not survive into this one
  memory.holding[0] = 1;
  await waitFor(() => memory.coils[VALID], 5_000, 'resultValid for the late part');
  t.equal(memory.coils[OK], false, 'a fallback never passes a part, even with uncertainAs=ok');
  t.equal(memory.coils[NG], true);
  t.match(agent.snapshot(), { triggers: 1, dropped: 0 });
});

t.test('more parts than maxInFlight: the extra trigger is acked and counted as an overrun', async (t) => {
  const release: (() => void)[] = [];
  const { memory, agent, triggers } = await setup(
    t,
    { trigger: { mode: 'triggerRegister', address: 0 }, maxInFlight: 1 },
    (trigger) => new Promise((resolve) => release.push(() => resolve(verdict('OK', trigger.acquisitionId)))),
  );
  memory.holding[0] = 1;
  await waitFor(() => triggers.length === 1, 5_000, 'the first trigger');
  memory.holding[0] = 2;
  await waitFor(() => memory.holding[ACQ] === 2, 5_000, 'the second trigger acked');
  t.match(agent.snapshot(), { triggers: 2, overruns: 1, inFlight: 1 });
  t.equal(triggers.length, 1, 'the overrun part is not captured');
  for (const r of release) r();
  await waitFor(() => memory.coils[VALID], 5_000, 'the first part result');
  t.equal(memory.holding[ACQ], 2);
});

t.test('the PLC going away and coming back: the agent reconnects and keeps working', async (t) => {
  // a long resultValid, so the first result is still valid when the PLC comes back
  const plc = { trigger: { mode: 'triggerRegister', address: 0 }, resultValidMs: 30_000 } as const;
  const { memory, agent, triggers, restart } = await setup(t, plc, async (trigger) =>
    verdict(trigger.acquisitionId === 1 ? 'OK' : 'NG', trigger.acquisitionId),
  );
  memory.holding[0] = 1;
  await waitFor(() => memory.coils[VALID], 5_000, 'the first result');
  await restart();
  await waitFor(() => agent.snapshot().connected, 10_000, 'the agent to reconnect');
  t.ok(agent.snapshot().reconnects >= 1, 'the reconnect is counted');
  t.equal(memory.coils[VALID], false, 'a stale resultValid is cleared on reconnect');
  memory.holding[0] = 2;
  await waitFor(() => memory.coils[VALID], 5_000, 'a result after the reconnect');
  t.match(triggers, [{ acquisitionId: 1 }, { acquisitionId: 2 }]);
  t.equal(memory.coils[NG], true);
  t.equal(memory.holding[ACQ], 2);
});

t.test('a PLC that stops answering on an open socket: three timeouts rebuild the socket', async (t) => {
  const plc = { trigger: { mode: 'partPresent', table: 'discrete', address: 0 } } as const;
  const { memory, agent } = await setup(t, plc, async () => verdict('OK', 1));
  memory.hung = true;
  await waitFor(() => agent.snapshot().reconnects >= 1, 10_000, 'the socket rebuilt after the timeouts');
  t.ok(agent.snapshot().readErrors >= 3, 'three timed out reads before it gave up on the socket');
  t.match(agent.snapshot().lastError, /trigger|connect/);
  memory.hung = false;
  await waitFor(() => agent.snapshot().connected, 10_000, 'connected again once the PLC answers');
  memory.discrete[0] = true;
  await waitFor(() => memory.coils[VALID], 5_000, 'a result after the recovery');
  t.equal(memory.coils[OK], true);
});
