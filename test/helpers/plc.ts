import { ServerTCP } from 'modbus-serial';

/** The PLC's memory as a test sees it (a modbus-serial ServerTCP vector), plus every write, in order. */
export class PlcMemory {
  coils: boolean[] = [];
  discrete: boolean[] = [];
  holding: number[] = [];
  writes: string[] = [];
  /** How often each coil was read: a test that lowers a signal waits until the agent has seen it low. */
  coilReads: number[] = [];

  vector() {
    return {
      getCoil: (addr: number) => {
        this.coilReads[addr] = (this.coilReads[addr] ?? 0) + 1;
        return this.coils[addr] ?? false;
      },
      getDiscreteInput: (addr: number) => this.discrete[addr] ?? false,
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
}

/** modbus-serial's ServerTCP as the line PLC, on a loopback port. */
export async function startPlc(memory: PlcMemory, port: number): Promise<{ stop(): Promise<void> }> {
  const server = new ServerTCP(memory.vector(), { host: '127.0.0.1', port, unitID: 1 });
  server.on('socketError', () => undefined); // the agent's socket dropping on stop is expected
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', reject);
  });
  return { stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
