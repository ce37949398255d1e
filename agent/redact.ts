/** URLs fit for log lines, status and errors: the one place credentials are masked in URLs. */

const SECRET_QUERY_KEYS = /^(pwd|pass|passwd|password|token|key|auth|apikey|api_key)$/i;

/** No user info, and secrets some cameras take in the query (`pwd=`, `token=`, ...) masked. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username || url.password) {
      url.username = url.username ? '***' : '';
      url.password = url.password ? '***' : '';
    }
    for (const key of [...url.searchParams.keys()]) {
      if (SECRET_QUERY_KEYS.test(key)) url.searchParams.set(key, '***');
    }
    return url.toString();
  } catch {
    return '(unparseable url)';
  }
}
