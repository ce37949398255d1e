import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Whether a file is laid out as an ONNX model, checked without reading it: the top-level protobuf fields of
 * a ModelProto are walked by their keys and lengths (a few bytes read per field, a dozen fields in a real
 * model: its weights sit inside the one `graph` field), so a 1 GB upload of anything else is refused after
 * reading a few bytes instead of being read whole into memory first. A model that passes is then read and
 * decoded for real (manifest.ts), which may still refuse it.
 */

/** ModelProto's field numbers that must be there: ir_version and graph. */
const IR_VERSION = 1;
const GRAPH = 7;
/** A real model has a dozen top-level fields; a walk this long is not reading an ONNX file. */
const MAX_FIELDS = 10_000;
/** A key or varint is at most 10 bytes. */
const VARINT_MAX = 10;

/** Why the file at `path` is not an ONNX model (`field number 0 at byte 0`), or undefined when its layout is one. */
export async function onnxLayoutProblem(path: string): Promise<string | undefined> {
  // never blocks on a FIFO put where the model should be
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) return 'not a regular file';
    const { size } = stat;
    if (size === 0) return 'the file is empty';
    const buf = Buffer.alloc(VARINT_MAX);
    /** A varint at `at`: its value and its length, or undefined past the end / when malformed. */
    const varint = async (at: number): Promise<{ value: number; length: number } | undefined> => {
      const { bytesRead } = await fh.read(buf, 0, VARINT_MAX, at);
      let value = 0;
      for (let i = 0; i < bytesRead; i++) {
        const b = buf[i] as number;
        value += (b & 0x7f) * 2 ** (7 * i);
        if ((b & 0x80) === 0) return { value, length: i + 1 };
      }
      return undefined;
    };
    const seen = new Set<number>();
    let at = 0;
    for (let fields = 0; at < size; fields++) {
      if (fields >= MAX_FIELDS) return `more than ${MAX_FIELDS} top-level fields`;
      const key = await varint(at);
      if (!key) return `no protobuf field at byte ${at}`;
      const field = Math.floor(key.value / 8);
      const wire = key.value % 8;
      if (field === 0) return `field number 0 at byte ${at}`;
      at += key.length;
      if (wire === 0) {
        const v = await varint(at);
        if (!v) return `a broken number at byte ${at}`;
        at += v.length;
      } else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === 2) {
        const len = await varint(at);
        if (!len) return `a broken length at byte ${at}`;
        at += len.length + len.value;
      } else return `wire type ${wire} at byte ${at - key.length}`;
      if (at > size) return `a field runs past the end of the file (${size} bytes): truncated?`;
      seen.add(field);
    }
    if (!seen.has(IR_VERSION) || !seen.has(GRAPH)) return 'no ir_version or no graph';
    return undefined;
  } finally {
    await fh.close();
  }
}
