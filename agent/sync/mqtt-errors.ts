import { describeError } from '../errors.js';

/**
 * What a plant engineer needs to read in `/api/status` and the log when the broker will not have us: which
 * side refused, and which setting to look at. OpenSSL's own text ("ssl3_read_bytes:tlsv1 alert unknown ca")
 * is kept in parentheses for searching, never replaced by a generic timeout.
 */
const TLS_ALERTS: Record<string, string> = {
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA:
    'TLS: the broker does not trust our client certificate (issued by a CA it does not know; check mqtt.cert/mqtt.key)',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'TLS: the broker refused our client certificate: it has expired',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    'TLS: the broker requires a client certificate (set mqtt.cert and mqtt.key)',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'TLS: the broker refused our client certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: 'TLS: the broker refused our client certificate: it is revoked',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'TLS: the broker denied access to our client certificate',
};

const SERVER_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// MQTT 3.1.1 CONNACK return codes (mqtt.js puts them in `code`)
const CONNACK: Record<number, string> = {
  1: 'the broker refused the connection: unacceptable protocol version',
  2: 'the broker refused the connection: client id rejected (check mqtt.clientId)',
  3: 'the broker refused the connection: server unavailable',
  4: 'the broker refused the connection: bad user name or password (check mqtt.username/mqtt.password)',
  5: 'the broker refused the connection: not authorized (check mqtt.username/mqtt.password and the broker ACL)',
};

export function explainMqttError(err: unknown): string {
  const raw = describeError(err).split('\n')[0]?.trim() ?? '';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && CONNACK[code]) return `${CONNACK[code]} (${raw})`;
  if (typeof code === 'string') {
    const alert = TLS_ALERTS[code];
    if (alert) return `${alert} (${code})`;
    if (SERVER_CERT.has(code)) {
      return `TLS: the broker's certificate is not trusted: ${raw} (check mqtt.ca and the broker host name)`;
    }
  }
  return raw;
}
