import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};

/** Only plain names are served: no path, no dot-file, so nothing outside the folder can be named. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** The page's files are small (uPlot is ~50 KB); anything larger in the folder is not the page's. */
const MAX_ASSET_BYTES = 2 * 1024 * 1024;

/**
 * Where `npm run build` puts the page (`dist/web/`), found from this module: `dist/page/` when built,
 * `agent/page/` under tsx (tests), whose build output is the repository's `dist/web/`.
 */
export function defaultWebDir(): string | undefined {
  const here = import.meta.dirname;
  for (const dir of [join(here, '../web'), join(here, '../../dist/web')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

/**
 * The page's files, served by the agent itself (no CDN: a shop floor has no internet). Read once, on the
 * first request, and kept in memory with their ETag.
 */
export class PageAssets {
  private files: Map<string, Asset> | undefined;

  constructor(private readonly dir: string | undefined) {}

  get built(): boolean {
    return this.load().size > 0;
  }

  get(name: string): Asset | undefined {
    if (!SAFE_NAME.test(name)) return undefined;
    return this.load().get(name);
  }

  private load(): Map<string, Asset> {
    if (this.files) return this.files;
    const files = new Map<string, Asset>();
    if (this.dir && existsSync(this.dir)) {
      for (const name of readdirSync(this.dir)) {
        const path = join(this.dir, name);
        const type = TYPES[extname(name)];
        if (!type || !SAFE_NAME.test(name)) continue;
        const stat = statSync(path);
        if (!stat.isFile() || stat.size > MAX_ASSET_BYTES) continue;
        const body = readFileSync(path);
        const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
        files.set(name, { body, contentType: type, etag });
      }
    }
    this.files = files;
    return files;
  }
}
