import type { HttpDeps } from '../../agent/http/index.js';

/** HttpDeps for tests that drive one route: everything else answers empty, requests are refused. */
export function stubHttpDeps(overrides: Partial<HttpDeps>): HttpDeps {
  return {
    status: () => ({}),
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    decisions: { list: () => ({ decisions: [], nextBefore: null }), get: () => undefined },
    request: async () => ({ status: 'ok' }),
    refused: (_name, _body, why) => ({ status: 'error', code: why.code, error: why.message }),
    token: undefined,
    ...overrides,
  };
}
