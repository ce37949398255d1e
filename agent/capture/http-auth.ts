import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { redactUrl } from '../redact.js';
import { type Clock, systemClock } from '../service.js';
import { RateLimitedLog } from './rate-limited-log.js';

export interface HttpCredentials {
  username: string;
  password: string;
}

interface Challenge {
  scheme: string;
  params: Map<string, string>;
}

/** `Digest realm="x", nonce="y", Basic realm="z"` (several headers arrive joined by ", ") as challenges. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  const token = /\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?/y;
  let current: Challenge | undefined;
  while (token.lastIndex < header.length) {
    const m = token.exec(header);
    if (!m) break;
    const [, name = '', quoted, bare] = m;
    if (quoted === undefined && bare === undefined) {
      current = { scheme: name.toLowerCase(), params: new Map() };
      out.push(current);
    } else {
      current?.params.set(
        name.toLowerCase(),
        quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? ''),
      );
    }
  }
  return out;
}

const DIGEST_HASHES: Record<string, string> = {
  md5: 'md5',
  'md5-sess': 'md5',
  'sha-256': 'sha256',
  'sha-256-sess': 'sha256',
};

/**
 * What a camera asked for, remembered across requests so each later request authenticates the first time
 * (a snapshot per trigger must not pay a 401 round trip each time). The first request goes without
 * credentials: sending Basic up front would hand the password in clear to a camera that wanted Digest.
 */
export class HttpAuth {
  private scheme: 'none' | 'basic' | 'digest' = 'none';
  private digest: Map<string, string> | undefined;
  private nonceCount = 0;

  constructor(private readonly credentials: HttpCredentials | undefined) {}

  /** The Authorization header for this request, if the camera asked for one. */
  header(method: string, url: URL): string | undefined {
    const creds = this.credentials;
    if (!creds || this.scheme === 'none') return undefined;
    if (this.scheme === 'basic') {
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    const d = this.digest ?? new Map<string, string>();
    const algorithm = (d.get('algorithm') ?? 'MD5').toLowerCase();
    const hashName = DIGEST_HASHES[algorithm] ?? 'md5';
    const h = (s: string) => createHash(hashName).update(s).digest('hex');
    const realm = d.get('realm') ?? '';
    const nonce = d.get('nonce') ?? '';
    const uri = url.pathname + url.search;
    const cnonce = randomBytes(8).toString('hex');
    const nc = (++this.nonceCount).toString(16).padStart(8, '0');
    let ha1 = h(`${creds.username}:${realm}:${creds.password}`);
    if (algorithm.endsWith('-sess')) ha1 = h(`${ha1}:${nonce}:${cnonce}`);
    const ha2 = h(`${method}:${uri}`);
    const qops = (d.get('qop') ?? '').split(',').map((q) => q.trim());
    const qop = qops.includes('auth') ? 'auth' : undefined;
    const response = qop ? h(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
    const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
    const parts = [
      `username=${q(creds.username)}`,
      `realm=${q(realm)}`,
      `nonce=${q(nonce)}`,
      `uri=${q(uri)}`,
      `algorithm=${d.get('algorithm') ?? 'MD5'}`,
      `response=${q(response)}`,
    ];
    if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${q(cnonce)}`);
    const opaque = d.get('opaque');
    if (opaque !== undefined) parts.push(`opaque=${q(opaque)}`);
    return `Digest ${parts.join(', ')}`;
  }

  /**
   * Learns from a 401. True when retrying is worth it: the camera named a scheme we had not used yet, or a
   * new (stale) nonce; false when the credentials we sent were simply refused, or we have none.
   */
  learn(wwwAuthenticate: string | null): boolean {
    if (!this.credentials || !wwwAuthenticate) return false;
    const challenges = parseChallenges(wwwAuthenticate);
    const digest = challenges.find((c) => c.scheme === 'digest');
    if (digest) {
      const algorithm = (digest.params.get('algorithm') ?? 'MD5').toLowerCase();
      const qop = digest.params.get('qop');
      if (!(algorithm in DIGEST_HASHES)) return false;
      if (qop !== undefined && !qop.split(',').some((x) => x.trim() === 'auth')) return false;
      const fresh =
        this.scheme !== 'digest' ||
        digest.params.get('stale')?.toLowerCase() === 'true' ||
        digest.params.get('nonce') !== this.digest?.get('nonce');
      this.scheme = 'digest';
      this.digest = digest.params;
      this.nonceCount = 0;
      return fresh;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const fresh = this.scheme !== 'basic';
      this.scheme = 'basic';
      return fresh;
    }
    return false;
  }
}

/** GET with the camera's authentication; one retry after a 401 that taught us something new. */
export async function fetchWithAuth(url: URL, auth: HttpAuth, signal: AbortSignal): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const authorization = auth.header('GET', url);
    const res = await fetch(url, {
      signal,
      headers: authorization ? { authorization } : {},
      redirect: 'follow',
    });
    if (res.status !== 401 || attempt > 0 || !auth.learn(res.headers.get('www-authenticate'))) return res;
    await res.body?.cancel();
  }
}

/** Splits `http://user:pass@host/...` into a URL fetch accepts and the credentials it carried. */
export function splitCredentials(
  raw: string,
  given?: Partial<HttpCredentials>,
): {
  url: URL;
  credentials: HttpCredentials | undefined;
} {
  const url = new URL(raw);
  const username = given?.username ?? decodeURIComponent(url.username);
  const password = given?.password ?? decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url, credentials: username ? { username, password } : undefined };
}

/** What an HTTP camera source (snapshot or MJPEG) holds: where, how to sign in, how to log and time it. */
export interface HttpCameraEndpoint {
  url: URL;
  auth: HttpAuth;
  /** The URL without credentials, for logs and errors. */
  safeUrl: string;
  clock: Clock;
  problems: RateLimitedLog;
}

export function httpCameraEndpoint(opts: {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  log: Logger;
  clock?: Clock | undefined;
}): HttpCameraEndpoint {
  const { url, credentials } = splitCredentials(opts.url, opts);
  const clock = opts.clock ?? systemClock;
  return {
    url,
    auth: new HttpAuth(credentials),
    safeUrl: redactUrl(opts.url),
    clock,
    problems: new RateLimitedLog(opts.log, undefined, clock),
  };
}

export { redactUrl };
