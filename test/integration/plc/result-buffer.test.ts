import t, { type Test } from 'tap';
import { type PlcConfigInput, plcConfigSchema } from '../../../agent/config/index.js';
import { ModbusPlc, type PlcTrigger, type VerdictLike } from '../../../agent/plc/index.js';
import { systemClock } from '../../../agent/service.js';
import { quietLog } from '../../helpers/fixtures.js';
import { freePort, waitFor } from '../../helpers/net.js';
import { PlcMemory, startPlc } from '../../helpers/plc.js';

const VALID = 2;
const ACQ = 100;
const ACK = 5;

/** A PLC that takes its time to acknowledge results: resultValid stays high until the test acks. */
async function slowAckPlc(t: Test, plc: Partial<PlcConfigInput>) {
  const memory = new PlcMemory();
  const port = await freePort();
  const server = await startPlc(memory, port);
  const triggers: PlcTrigger[] = [];
  const config = plcConfigSchema.parse({
    host: '127.0.0.1',
    port,
    pollMs: 10,
    // generous: on a loaded machine three slow answers in a row would drop the session (and the buffer)
    timeoutMs: 2_000,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    trigger: { mode: 'triggerRegister', address: 0 },
    outputs: { resultId: 101 },
    resultAck: { table: 'coil', address: ACK },
    resultValidMs: 30_000,
    maxInFlight: 1,
    ...plc,
  });
  const agent = new ModbusPlc(config, {
    clock: systemClock,
    log: quietLog,
    onTrigger: async (trigger) => {
      triggers.push(trigger);
      return { verdict: 'OK', degraded: false, seq: trigger.acquisitionId } satisfies VerdictLike;
    },
  });
  const abort = new AbortController();
  await agent.start(abort.signal);
  t.teardown(async () => {
    abort.abort();
    await agent.stop();
    await server.stop();
  });
  await waitFor(() => agent.snapshot().connected, 10_000, 'the agent to connect');
  const trigger = async (n: number) => {
    memory.holding[0] = n;
    await waitFor(() => memory.holding[ACQ] === n, 10_000, `trigger ${n} acked`);
  };
  /**
   * The PLC takes the posted result: ack rises, then falls once resultValid was cleared. The clear is read
   * from the write log, not the coil: the next result may already be posted by the time the test looks.
   */
  const ack = async () => {
    const id = memory.holding[101];
    const from = memory.writes.length;
    memory.coils[ACK] = true;
    await waitFor(
      () => memory.writes.slice(from).includes(`coil ${VALID}=0`),
      10_000,
      `resultValid cleared for ${id}`,
    );
    // as a PLC holds a signal for a scan: low until the agent has read it low, so the next ack is an edge
    const reads = memory.coilReads[ACK] ?? 0;
    memory.coils[ACK] = false;
    await waitFor(() => (memory.coilReads[ACK] ?? 0) >= reads + 2, 10_000, 'the agent to see the ack low');
    return from;
  };
  return { memory, agent, triggers, trigger, ack };
}

t.test(
  'a slow result ack never refuses the next part: finished results wait in the buffer, in order',
  async (t) => {
    const { memory, agent, triggers, trigger, ack } = await slowAckPlc(t, {});
    await trigger(1);
    await waitFor(() => memory.coils[VALID], 10_000, 'the first result posted');
    // the PLC does not take it yet; three more parts come
    for (const n of [2, 3, 4]) await trigger(n);
    await waitFor(() => agent.snapshot().resultQueue === 3, 10_000, 'three finished results buffered');
    t.equal(triggers.length, 4, 'every part was captured and judged, none refused');
    t.match(agent.snapshot(), {
      overruns: 0,
      resultQueue: 3,
      resultQueueMax: 3,
      resultBuffer: 8,
      inFlight: 3,
    });
    const posted: number[] = [memory.holding[101] ?? -1];
    for (let i = 0; i < 3; i++) {
      const from = await ack();
      const writes = () => memory.writes.slice(from);
      await waitFor(
        () => writes().indexOf(`coil ${VALID}=1`) > writes().indexOf(`coil ${VALID}=0`),
        10_000,
        'the next buffered result posted',
      );
      posted.push(memory.holding[101] ?? -1);
    }
    t.same(posted, [1, 2, 3, 4], 'posted strictly in trigger order');
    t.equal(agent.snapshot().resultQueue, 0);
  },
);

t.test('a full result buffer is an overrun: acked, not captured, counted', async (t) => {
  const { memory, agent, triggers, trigger } = await slowAckPlc(t, { resultBuffer: 2 });
  await trigger(1);
  await waitFor(() => memory.coils[VALID], 10_000, 'the first result posted');
  await trigger(2);
  await trigger(3);
  await waitFor(() => agent.snapshot().resultQueue === 2, 10_000, 'the buffer full');
  await trigger(4);
  t.equal(triggers.length, 3, 'the part beyond the buffer is not captured');
  t.match(agent.snapshot(), { overruns: 1, resultQueue: 2, resultBuffer: 2 });
});
