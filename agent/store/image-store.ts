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
  /**
   * What the image tree really takes on disk: the blocks of each file (a 30 KB JPEG takes 32 KB on a file
   * system of 4 KB blocks) and of the directories. This, not `bytes`, counts against the disk budget.
   */
  allocated = 0;
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
    // a JPEG frame is kept byte for byte: the inspector hashed those very bytes already (image.sha256)
    const { frame } = evidence;
    const known = draft.image ? { data: frame.data, sha256: draft.image.sha256 } : undefined;
    if (!encode) {
      return frame.kind === 'encoded' && isJpeg(frame.data)
        ? [encoded('frame', frameJpeg(frame), known)]
        : [];
    }
    const jobs: Promise<PreparedImage>[] = [encoded('frame', frameJpeg(frame), known)];
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
          const sub = join(this.dir, image.sha256.slice(0, 2));
          if (mkdirSync(sub, { recursive: true }) !== undefined) this.allocated += allocatedOf(sub);
          const tmp = `${path}.tmp`;
          try {
            writeFileSync(tmp, image.data);
            renameSync(tmp, path);
          } catch (err) {
            rmSync(tmp, { force: true }); // half a file on a full disk: never left behind
            throw err;
          }
          this.bytes += image.data.length;
          this.files += 1;
          this.allocated += allocatedOf(path);
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
  unlinkIfUnreferenced(sha256: string, kind: ImageKind, _bytes?: number): boolean {
    if ((this.stmt.refs.get(sha256) as { n: number }).n > 0) return false;
    return this.removeFile(sha256, kind);
  }

  /**
   * Removes an image's file (the caller knows no row still needs it; its rows may go after). True when
   * the file was there and went; its bytes come off the running totals.
   */
  removeFile(sha256: string, kind: ImageKind): boolean {
    const path = this.pathOf(sha256, kind);
    let size: number;
    let blocks: number;
    try {
      const st = statSync(path);
      size = st.size;
      blocks = st.blocks * 512;
    } catch {
      return false; // already gone (an earlier try freed it, or a power cut lost it)
    }
    try {
      rmSync(path);
      this.bytes = Math.max(0, this.bytes - size);
      this.files = Math.max(0, this.files - 1);
      this.allocated = Math.max(0, this.allocated - blocks);
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
   * At start, once: counts the bytes on disk, removes files no row points at (written just before a crash,
   * before their decision committed) and leftover temp files, and deletes rows whose file is gone (a crash
   * between freeing a file and deleting its row on a full disk, or a power cut that lost a recent file).
   */
  reconcile(): { files: number; bytes: number; orphans: number; dangling: number } {
    mkdirSync(this.dir, { recursive: true });
    const known = new Set(
      (this.db.prepare('SELECT DISTINCT sha256 FROM images').all() as { sha256: string }[]).map(
        (r) => r.sha256,
      ),
    );
    const present = new Set<string>();
    let bytes = 0;
    let files = 0;
    let orphans = 0;
    let allocated = allocatedOf(this.dir);
    for (const sub of readdirSync(this.dir, { withFileTypes: true })) {
      if (!sub.isDirectory() || !/^[0-9a-f]{2}$/.test(sub.name)) continue;
      allocated += allocatedOf(join(this.dir, sub.name));
      for (const f of readdirSync(join(this.dir, sub.name))) {
        const path = join(this.dir, sub.name, f);
        const sha = f.split('.')[0] ?? '';
        if (f.endsWith('.tmp') || !known.has(sha)) {
          rmSync(path, { force: true });
          orphans += 1;
          continue;
        }
        const st = statSync(path);
        bytes += st.size;
        allocated += st.blocks * 512;
        files += 1;
        present.add(sha);
      }
    }
    this.bytes = bytes;
    this.files = files;
    this.allocated = allocated;
    if (orphans > 0) this.log.info({ orphans }, 'removed image files no decision refers to');
    const dangling = this.dropDangling([...known].filter((sha) => !present.has(sha)));
    return { files, bytes, orphans, dangling };
  }

  /** Rows whose file is gone: deleted (their image is not coming back). A full disk leaves them for now. */
  private dropDangling(shas: readonly string[]): number {
    if (shas.length === 0) return 0;
    const del = this.db.prepare('DELETE FROM images WHERE sha256 = ?');
    let rows = 0;
    try {
      this.db.transaction(() => {
        for (const sha of shas) rows += del.run(sha).changes;
      })();
      this.log.info({ rows }, 'deleted image rows whose file is gone');
    } catch (err) {
      rows = 0;
      this.log.warn({ err, files: shas.length }, 'image rows whose file is gone are kept for now');
    }
    return rows;
  }
}

/** Bytes a file or directory takes on disk (its blocks), 0 when it cannot be seen. */
function allocatedOf(path: string): number {
  try {
    return statSync(path).blocks * 512;
  } catch {
    return 0;
  }
}

/** `known`: bytes already hashed; used when the encoder handed them back unchanged (a JPEG frame). */
async function encoded(
  kind: ImageKind,
  work: Promise<Buffer>,
  known?: { data: Buffer; sha256: string },
): Promise<PreparedImage> {
  try {
    const data = await work;
    const sha256 = data === known?.data ? known.sha256 : createHash('sha256').update(data).digest('hex');
    return { kind, data, sha256 };
  } catch (err) {
    throw new AgentError(ErrorCodes.STORE_WRITE, `${kind} could not be encoded: ${describeError(err)}`, {
      cause: err,
    });
  }
}
