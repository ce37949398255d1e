import type { Decision } from '../../agent/decision/index.js';

export interface StatusBody {
  store: { lastSeq: number; backlog: number };
  mqtt: { connected: boolean };
  cameras: { id: string; state: string }[];
  models: { id: string; state: string; provider: string | null; error: string | null }[];
  problems: { code: string; message: string }[];
}

/** Thin client for the agent's HTTP API; undefined while the agent is not answering. */
export function agentHttp(port: number) {
  const base = `http://127.0.0.1:${port}`;
  const getJson = async <T>(path: string): Promise<T | undefined> => {
    const res = await fetch(base + path).catch(() => undefined);
    return res?.ok ? ((await res.json()) as T) : undefined;
  };
  return {
    base,
    status: () => getJson<StatusBody>('/api/status'),
    decisions: async (query = '') =>
      (await getJson<{ decisions: Decision[] }>(`/api/decisions${query}`))?.decisions,
  };
}
