/** Talking to the agent: the same routes and requests as any other client (CONTRACT sections 3 and 4). */

const TOKEN_KEY = 'eva-token';
const USER_KEY = 'eva-user';

/** The bearer token lives for this browser tab's session only (sessionStorage), never on disk for good. */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value: string | null) {
    if (value === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  },
  get user(): string {
    return sessionStorage.getItem(USER_KEY) ?? '';
  },
  set user(value: string) {
    sessionStorage.setItem(USER_KEY, value);
  },
};

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json()) as T & { status?: string; error?: string };
  if (!res.ok) throw new Error(body.error ?? `${path}: HTTP ${res.status}`);
  return body;
}

/** Whether `token` is the agent's (GET /api/auth changes nothing). */
export async function checkToken(token: string): Promise<boolean> {
  const res = await fetch('/api/auth', { headers: { authorization: `Bearer ${token}` } });
  return res.ok;
}

export interface RequestAnswer {
  status: 'ok' | 'error';
  code?: string;
  error?: string;
  data?: unknown;
}

/** `POST /api/<name>` with the session's token; a 401 signs the page out. */
export async function request(name: string, body: Record<string, unknown>): Promise<RequestAnswer> {
  const token = session.token;
  if (!token) return { status: 'error', error: 'sign in first' };
  const res = await fetch(`/api/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (res.status === 401) session.token = null;
  return (await res.json()) as RequestAnswer;
}
