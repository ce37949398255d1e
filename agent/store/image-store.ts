import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { DecisionDraft, Evidence, Verdict } from '../decision/index.js';
import { AgentError, describeError, ErrorCodes } from '../errors.js';
import {
  annotatedJpeg,
  anomalyMapPng,
  EXTENSIONS,
  frameJpeg,
  type ImageKind,
  isJpeg,
} from './image-codec.js';

export interface PreparedImage {
  kind: ImageKind;
  data: Buffer;
  sha256: string;
}

export interface WrittenImage {
  kind: ImageKind;
  sha256: string;
  bytes: number;
  /** True when this write created the file (not already there for another decision). */
  created: boolean;
}

export interface ImageRow {
  seq: number;
  kind: ImageKind;
  sha256: string;
  bytes: number;
}

/**
 * Stored images: files under `imagesDir/<sha256[0:2]>/<sha256>.<ext>`, one `images` row per decision and
 * kind. Content addressing makes a file its own checksum and stores identical frames once. Keeps a running
 * total of the bytes on disk (one directory walk at start, then counted per write and delete), so the disk
 * budget never walks the tree per frame.
 */
export class ImageStore {
  /** Bytes of image files on disk (each distinct file once). */
  bytes = 0;
  files = 0;
  private readonly okSeen = new Map<string, number>();
  private readonly stmt: Record<'insert' | 'refs' | 'get', Statement>;

  constructor(
    readonly dir: string,
    private readonly db: Database,
    private readonly keepOkEvery: number,
    private readonly log: Logger,
  ) {
    this.stmt = {
      insert: db.prepare(
        'INSERT OR REPLACE INTO images (seq, kind, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      refs: db.prepare('SELECT count(*) AS n FROM images WHERE sha256 = ?'),
      get: db.prepare('SELECT seq, kind, sha256, bytes FROM images WHERE seq = ? AND kind = ?'),
    };
  }

  /**
   * Which parts keep their frame: NG always (the evidence for a reject), UNCERTAIN always (the grey zone a
   * person should review, and what a retrained model most needs), 1 in `keepOkImageEvery` OK per camera
   * (the first, then every Nth; 0 keeps none), ERROR never (usually there is no usable frame).
   */
  wants(cameraId: string, verdict: Verdict): boolean {
    if (verdict === 'NG' || verdict === 'UNCERTAIN') return true;
    if (verdict !== 'OK' || this.keepOkEvery === 0) return false;
    const seen = this.okSeen.get(cameraId) ?? 0;
    this.okSeen.set(cameraId, seen + 1);
    return seen % this.keepOkEvery === 0;
  }

  /**
   * Encodes what is to be kept: the frame, plus the annotated copy and the anomaly map a task gives. With
   * `encode: false` (no time left, or a fallback verdict) only a JPEG frame is kept, as it came: no encoder
   * is started whose result would be thrown away, taking sharp's threads from preprocessing.
   */
  prepare(evidence: Evidence, draft: DecisionDraft, encode = true): Promise<PreparedImage>[] {
    if (!encode) {
      const { frame } = evidence;
      return frame.kind === 'encoded' && isJpeg(frame.data) ? [encoded('frame', frameJpeg(frame))] : [];
    }
    const jobs: Promise<PreparedImage>[] = [encoded('frame', frameJpeg(evidence.frame))];
    const result = evidence.inference?.result ?? draft.result;
    if (result?.task === 'detection' && result.detections.length > 0) {
      jobs.push(encoded('annotated', annotatedJpeg(evidence.frame, result)));
    }
    const map = evidence.inference?.maps?.anomaly;
    if (map) jobs.push(encoded('anomaly-map', anomalyMapPng(map)));
    return jobs;
  }

  /** Writes files not yet on disk (temp name, then rename: a crash never leaves half a file under its hash). */
  write(images: readonly PreparedImage[]): WrittenImage[] {
    const out: WrittenImage[] = [];
    try {
      for (const image of images) {
        const path = this.pathOf(image.sha256, image.kind);
        const created = !existsSync(path);
        if (created) {
          mkdirSync(join(this.dir, image.sha256.slice(0, 2)), { recursive: true });
          const tmp = `${path}.tmp`;
          writeFileSync(tmp, image.data);
          renameSync(tmp, path);
          this.bytes += image.data.length;
          this.files += 1;
        }
        out.push({ kind: image.kind, sha256: image.sha256, bytes: image.data.length, created });
      }
    } catch (err) {
      this.discard(out);
      throw err;
    }
    return out;
  }

  /** Inside the decision's transaction. */
  insertRows(seq: number, images: readonly WrittenImage[], at: number): void {
    for (const image of images) this.stmt.insert.run(seq, image.kind, image.sha256, image.bytes, at);
  }

  /** Files this write created for a decision that was then not stored: removed again. */
  discard(images: readonly WrittenImage[]): void {
    for (const image of images) {
      if (image.created) this.unlinkIfUnreferenced(image.sha256, image.kind, image.bytes);
    }
  }

  /**
   * After its row was deleted: the file goes when no other row points at it. True when it went. Several
   * rows may share one file (content addressing): when a batch deletes them all, only the first call finds
   * the file, and only that one takes its bytes off the running total.
   */
  unlinkIfUnreferenced(sha256: string, kind: ImageKind, bytes: number): boolean {
    if ((this.stmt.refs.get(sha256) as { n: number }).n > 0) return false;
    const path = this.pathOf(sha256, kind);
    if (!existsSync(path)) return false;
    try {
      rmSync(path);
      this.bytes = Math.max(0, this.bytes - bytes);
      this.files = Math.max(0, this.files - 1);
      return true;
    } catch (err) {
      this.log.warn({ err, sha256 }, 'stored image could not be removed');
      return false;
    }
  }

  find(seq: number, kind: ImageKind): { row: ImageRow; path: string } | undefined {
    const row = this.stmt.get.get(seq, kind) as ImageRow | undefined;
    return row ? { row, path: this.pathOf(row.sha256, row.kind) } : undefined;
  }

  pathOf(sha256: string, kind: ImageKind): string {
    return join(this.dir, sha256.slice(0, 2), `${sha256}.${EXTENSIONS[kind]}`);
  }

  /**
   * At start, once: counts the bytes on disk and removes files no row points at (written just before a
   * crash, before their decision committed) and leftover temp files.
   */
  reconcile(): { files: number; bytes: number; orphans: number } {
    mkdirSync(this.dir, { recursive: true });
    const known = new Set(
      (this.db.prepare('SELECT DISTINCT sha256 FROM images').all() as { sha256: string }[]).map(
        (r) => r.sha256,
      ),
    );
    let bytes = 0;
    let files = 0;
    let orphans = 0;
    for (const sub of readdirSync(this.dir, { withFileTypes: true })) {
      if (!sub.isDirectory() || !/^[0-9a-f]{2}$/.test(sub.name)) continue;
      for (const f of readdirSync(join(this.dir, sub.name))) {
        const path = join(this.dir, sub.name, f);
        const sha = f.split('.')[0] ?? '';
        if (f.endsWith('.tmp') || !known.has(sha)) {
          rmSync(path, { force: true });
          orphans += 1;
          continue;
        }
        bytes += statSync(path).size;
        files += 1;
      }
    }
    this.bytes = bytes;
    this.files = files;
    if (orphans > 0) this.log.info({ orphans }, 'removed image files no decision refers to');
    return { files, bytes, orphans };
  }
}

async function encoded(kind: ImageKind, work: Promise<Buffer>): Promise<PreparedImage> {
  try {
    const data = await work;
    return { kind, data, sha256: createHash('sha256').update(data).digest('hex') };
  } catch (err) {
    throw new AgentError(ErrorCodes.STORE_WRITE, `${kind} could not be encoded: ${describeError(err)}`, {
      cause: err,
    });
  }
}
