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

/** A URL inside free text: a scheme, `://`, then up to the next blank or quote, less a closing `:,.;)`. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*[^\s"'<>:,.;)]/gi;

/**
 * Every URL in a line of someone else's text (ffmpeg's stderr repeats its input URL in its errors) masked
 * as redactUrl does, so user info and secret query values never reach a log line, a status or an alert.
 */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => {
    const masked = redactUrl(url);
    return masked === '(unparseable url)' ? url.replace(/\/\/[^/@\s]*@/, '//***@') : masked;
  });
}
