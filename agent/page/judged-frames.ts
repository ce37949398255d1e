import type { Logger } from 'pino';
import type { Frame } from '../capture/index.js';
import type { Decision } from '../decision/index.js';
import { AgentError, agentError, describeError, ErrorCodes } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Clock, Service } from '../service.js';
import { type AnomalyMap, judgedJpeg } from '../store/index.js';

export interface JudgedFrame {
  jpeg: Buffer;
  decision: Pick<Decision, 'id' | 'seq' | 'verdict' | 'decidedAt'>;
}

interface Newest {
  decision: Decision;
  frame: Frame;
  map?: AnomalyMap | undefined;
}

/**
 * A camera's judged frame is annotated at most this often, whatever the frame rate and however many pages
 * look: a person cannot read more, and each annotation is a decode, a composite and an encode in sharp's
 * pool, which preprocessing shares.
 */
export const JUDGED_MIN_INTERVAL_MS = 1_000;

/**
 * The last judged frame of each camera, annotated server-side for the page (`GET /api/cameras/:id/judged`),
 * by the store's own annotator (`judgedJpeg`, the code that draws the stored annotated copies). On
 * `DecisionStored` it only keeps a reference to the newest judged frame (not an ERROR's); annotating happens when a
 * page asks, off the deadline path, once per decision and at most every JUDGED_MIN_INTERVAL_MS per camera.
 */
export class JudgedFrames implements Service {
  readonly name = 'judged-frames';
  private readonly newest = new Map<string, Newest>();
  private readonly rendered = new Map<string, JudgedFrame & { at: number }>();
  private readonly pending = new Map<string, Promise<JudgedFrame>>();
  /** The seq whose frame could not be drawn (a corrupt frame): not tried again. */
  private readonly failed = new Map<string, number>();

  constructor(
    private readonly cameraIds: readonly string[],
    private readonly deps: { clock: Clock; events: EventBus; log: Logger },
  ) {}

  async start(): Promise<void> {
    this.deps.events.on(
      'DecisionStored',
      ({ decision, evidence }) => {
        // an ERROR's frame is usually what could not be read (the store keeps none either): the tile keeps
        // showing the last frame the model judged, while its caption says ERROR
        if (!evidence || decision.verdict === 'ERROR') return;
        const map = evidence.inference?.maps?.anomaly;
        this.newest.set(decision.cameraId, { decision, frame: evidence.frame, map });
      },
      this.name,
    );
  }

  async stop(): Promise<void> {
    this.deps.events.removeListeners(this.name);
    this.newest.clear();
  }

  async get(cameraId: string): Promise<JudgedFrame> {
    if (!this.cameraIds.includes(cameraId)) {
      throw agentError('CAMERA_NOT_FOUND', { camera: cameraId, known: this.cameraIds });
    }
    const newest = this.newest.get(cameraId);
    const done = this.rendered.get(cameraId);
    const now = this.deps.clock.now();
    const current =
      !newest ||
      done?.decision.seq === newest.decision.seq ||
      this.failed.get(cameraId) === newest.decision.seq ||
      (done !== undefined && now - done.at < JUDGED_MIN_INTERVAL_MS);
    if (current) {
      if (done) return done;
      throw new AgentError(
        ErrorCodes.FRAME_UNAVAILABLE,
        `camera ${cameraId} has not judged a frame since the agent started`,
      );
    }
    let work = this.pending.get(cameraId);
    if (!work) {
      work = this.render(cameraId, newest, done).finally(() => this.pending.delete(cameraId));
      this.pending.set(cameraId, work);
    }
    return work;
  }

  private async render(cameraId: string, n: Newest, previous: JudgedFrame | undefined): Promise<JudgedFrame> {
    const d = n.decision;
    try {
      const jpeg = await judgedJpeg(
        n.frame,
        { verdict: d.verdict, reason: d.reason, result: d.result },
        n.map,
      );
      const out = {
        jpeg,
        decision: { id: d.id, seq: d.seq, verdict: d.verdict, decidedAt: d.decidedAt },
        at: this.deps.clock.now(),
      };
      this.rendered.set(cameraId, out);
      return out;
    } catch (err) {
      this.failed.set(cameraId, d.seq);
      this.deps.log.warn({ err, cameraId, seq: d.seq }, 'judged frame could not be drawn for the page');
      if (previous) return previous;
      throw new AgentError(
        ErrorCodes.FRAME_UNAVAILABLE,
        `camera ${cameraId}: decision ${d.seq}'s frame could not be drawn (${describeError(err)})`,
        { cause: err },
      );
    }
  }
}
