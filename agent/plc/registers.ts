import modbus from 'modbus-serial';
import type { PlcConfig } from '../config/index.js';
import type { Verdict } from '../decision/index.js';

/** The class from the CommonJS package (its typings put it on `default` under NodeNext). */
export const ModbusClient = modbus.default;
export type ModbusClient = InstanceType<typeof modbus.default>;

/** What the lead's onTrigger resolves with: enough to drive the outputs and to trace the write. */
export interface VerdictLike {
  verdict: Verdict;
  degraded: boolean;
  seq: number;
}

export interface PlcOutputs {
  ok: boolean;
  ng: boolean;
}

/**
 * The verdict mapping ("a verdict that misses its slot is a reject"): only a real model's OK passes a part.
 * ERROR and every degraded fallback (deadline miss, model down) are NG whatever `uncertainAs` says, because
 * a fallback never saw the part; `uncertainAs` only decides a model's own UNCERTAIN. ok and ng are never
 * both set, so a PLC that reads either bit alone cannot pass a reject.
 */
export function mapVerdict(v: VerdictLike, uncertainAs: PlcConfig['uncertainAs']): PlcOutputs {
  const pass = !v.degraded && (v.verdict === 'OK' || (v.verdict === 'UNCERTAIN' && uncertainAs === 'ok'));
  return { ok: pass, ng: !pass };
}

/** A part id from the registers read at trigger time; undefined when the PLC left them empty. */
export function decodePartId(
  words: readonly number[],
  spec: NonNullable<PlcConfig['partId']>,
): string | undefined {
  if (spec.format === 'uint16') return words[0] === undefined ? undefined : String(words[0]);
  if (spec.format === 'uint32') {
    const [hi, lo] = words;
    return hi === undefined || lo === undefined ? undefined : String(hi * 65_536 + lo);
  }
  const bytes: number[] = [];
  for (const w of words) {
    const hi = (w >> 8) & 0xff;
    const lo = w & 0xff;
    bytes.push(...(spec.swapBytes ? [lo, hi] : [hi, lo]));
  }
  // PLC strings are fixed-width: padded with NULs or spaces after the id
  const end = bytes.indexOf(0);
  const text = Buffer.from(end === -1 ? bytes : bytes.slice(0, end))
    .toString('latin1')
    .trim();
  return text.length > 0 ? text : undefined;
}

/** Acquisition ids live in one 16-bit register; 0 is skipped so "never triggered" stays distinguishable. */
export function nextAcquisitionId(previous: number): number {
  return previous >= 65_535 ? 1 : previous + 1;
}

export async function readBit(
  client: ModbusClient,
  table: 'discrete' | 'coil',
  address: number,
): Promise<boolean> {
  const res =
    table === 'discrete' ? await client.readDiscreteInputs(address, 1) : await client.readCoils(address, 1);
  return res.data[0] === true;
}

export async function readWords(client: ModbusClient, address: number, count: number): Promise<number[]> {
  return (await client.readHoldingRegisters(address, count)).data;
}

/** Sets one output bit, as a coil or as 0/1 in a holding register, following `outputs.table`. */
export async function writeOutput(
  client: ModbusClient,
  table: PlcConfig['outputs']['table'],
  address: number,
  on: boolean,
): Promise<void> {
  if (table === 'coil') await client.writeCoil(address, on);
  else await client.writeRegister(address, on ? 1 : 0);
}

/**
 * modbus-serial rejects with plain objects (`{ name, message, errno }`) that are not Errors, so the usual
 * `describeError` would print `[object Object]`.
 */
export function modbusErrorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null) {
    const e = err as { message?: unknown; errno?: unknown; name?: unknown };
    const message = typeof e.message === 'string' && e.message ? e.message : String(e.name ?? 'error');
    return typeof e.errno === 'string' || typeof e.errno === 'number' ? `${message} (${e.errno})` : message;
  }
  return String(err);
}
