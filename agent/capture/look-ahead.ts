/**
 * The parts continuous cameras start ahead (docs/capture.md), counted per model across every camera that
 * uses it: one at a time. One camera gets its next frame decoding while the model judges the last one (the
 * model's worker would otherwise wait for that decode); several cameras on one model keep its worker busy
 * anyway, and a part ahead for each would only double its queue, and with it every part's wait and the
 * deadlines missed under overload: they add one part to the queue, not one each. The part ahead goes round:
 * a camera refused it is first in line the next time it asks, and the one that had it cannot take it again
 * before the cameras waiting for it had their turn.
 */
export class LookAhead {
  private readonly models = new Map<string, { holder: string | undefined; waiting: string[] }>();

  /** The part ahead for `model`, to camera `camera`, if it is free and its turn. */
  take(model: string, camera: string): boolean {
    const m = this.of(model);
    const first = m.waiting[0];
    if (m.holder !== undefined || (first !== undefined && first !== camera)) {
      if (m.holder !== camera && !m.waiting.includes(camera)) m.waiting.push(camera);
      return false;
    }
    if (first === camera) m.waiting.shift();
    m.holder = camera;
    return true;
  }

  give(model: string, camera: string): void {
    const m = this.of(model);
    if (m.holder === camera) m.holder = undefined;
  }

  /** A camera that stops (or is disabled) gives up its part ahead and its place in line. */
  leave(camera: string): void {
    for (const m of this.models.values()) {
      if (m.holder === camera) m.holder = undefined;
      m.waiting = m.waiting.filter((c) => c !== camera);
    }
  }

  /** Who has the part ahead of `model` now (tests and status). */
  holder(model: string): string | undefined {
    return this.models.get(model)?.holder;
  }

  private of(model: string) {
    let m = this.models.get(model);
    if (!m) {
      m = { holder: undefined, waiting: [] };
      this.models.set(model, m);
    }
    return m;
  }
}
