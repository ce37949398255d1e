/**
 * Progress of long work (bench runs, baseline builds, dataset exports, a TensorRT engine build): a bar
 * redrawn in place on a terminal, plain lines otherwise (a log file or a pipe gets a line at the start, at
 * each tenth and at the end, never a stream of carriage returns).
 */
export interface Progress {
  /** `done` units of `total` are finished. */
  update(done: number): void;
  /** The work ended (successfully or not): the bar's line is finished with `note`. */
  end(note?: string): void;
}

/** How often a terminal bar is redrawn at most: faster is flicker, and costs the work it reports on. */
const REDRAW_MS = 100;
const WIDTH = 28;

export function createProgress(
  label: string,
  total: number,
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  now: () => number = Date.now,
): Progress {
  const started = now();
  let lastDraw = 0;
  let lastTenth = -1;
  let done = 0;
  const tty = stream.isTTY === true;
  const line = () => {
    const share = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(share * WIDTH);
    const seconds = ((now() - started) / 1000).toFixed(1);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${done}/${total} ${seconds} s`;
  };
  return {
    update(n) {
      done = n;
      if (tty) {
        if (now() - lastDraw < REDRAW_MS && done < total) return;
        lastDraw = now();
        stream.write(`\r${line()}`);
        return;
      }
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (tenth > lastTenth) {
        lastTenth = tenth;
        stream.write(`${label}: ${done}/${total} (${tenth * 10} %)\n`);
      }
    },
    end(note) {
      const suffix = note ? ` ${note}` : '';
      stream.write(tty ? `\r${line()}${suffix}\n` : `${label}: done ${done}/${total}${suffix}\n`);
    },
  };
}
