import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { tempDir } from './agent-process.js';
import { runMosquitto, type TestBroker } from './brokers.js';
import { freePort } from './net.js';

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by a CA the broker does not trust. */
  foreignCert: string;
  foreignKey: string;
  foreignCa: string;
  /** Signed by the right CA, but its validity ended in the past. */
  expiredCert: string;
  expiredKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A test PKI made with openssl in a temp dir: CA, server (127.0.0.1/localhost), client, foreign and expired. */
export function makePki(): TestPki {
  const dir = tempDir('eva-pki-');
  const ca = (name: string) => {
    openssl(
      dir,
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`].concat([
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
      ]),
    );
  };
  ca('ca');
  ca('foreign-ca');
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  const leaf = (name: string, signer: string, ext: string, validity: string[]) => {
    openssl(
      dir,
      ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`].concat([
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      ]),
    );
    openssl(
      dir,
      ['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`].concat(
        ['-CAcreateserial', '-extfile', ext, '-out', `${name}.crt`],
        validity,
      ),
    );
  };
  leaf('server', 'ca', 'server.ext', ['-days', '2']);
  leaf('client', 'ca', 'client.ext', ['-days', '2']);
  leaf('foreign', 'foreign-ca', 'client.ext', ['-days', '2']);
  // `openssl x509 -req` cannot back-date portably; `openssl ca` takes explicit start and end dates
  makeExpired(dir);
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    foreignCert: p('foreign.crt'),
    foreignKey: p('foreign.key'),
    foreignCa: p('foreign-ca.crt'),
    expiredCert: p('expired.crt'),
    expiredKey: p('expired.key'),
  };
}

function makeExpired(dir: string): void {
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]
default_ca = test
[test]
dir = .
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = client
[any]
commonName = supplied
[client]
extendedKeyUsage = clientAuth
`,
  );
  openssl(
    dir,
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=expired'].concat([
      '-keyout',
      'expired.key',
      '-out',
      'expired.csr',
    ]),
  );
  openssl(
    dir,
    [
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-cert',
      'ca.crt',
      '-keyfile',
      'ca.key',
      '-in',
      'expired.csr',
    ].concat([
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-out',
      'expired.crt',
      '-notext',
    ]),
  );
}

export type SecureBroker = TestBroker;

/**
 * Debian's mosquitto with TLS (client certificates required, CA from `pki`) and/or a password file, on a free
 * loopback port. `user root`: run as root, mosquitto would drop privileges before reading the password file.
 */
export async function startSecureMosquitto(opts: {
  pki?: TestPki;
  users?: Record<string, string>;
  port?: number;
}): Promise<SecureBroker> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir('eva-mosq-sec-');
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'user root'];
  if (opts.pki) {
    lines.push(
      `cafile ${opts.pki.ca}`,
      `certfile ${opts.pki.serverCert}`,
      `keyfile ${opts.pki.serverKey}`,
      'require_certificate true',
    );
  }
  if (opts.users) {
    const file = join(dir, 'passwd');
    let first = true;
    for (const [user, password] of Object.entries(opts.users)) {
      execFileSync('mosquitto_passwd', ['-b', ...(first ? ['-c'] : []), file, user, password]);
      first = false;
    }
    lines.push('allow_anonymous false', `password_file ${file}`);
  } else {
    lines.push('allow_anonymous true');
  }
  return runMosquitto(dir, lines, {
    port,
    url: `${opts.pki ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    ready: () => listening(port),
  });
}

/** The port accepts connections (a TCP-level probe: credentials are the test's business). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    s.once('secureConnect', () => {
      s.destroy();
      resolve(true);
    });
    // a plain listener answers a TLS hello with garbage or a close: it is up all the same
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.destroy();
      resolve(err.code !== 'ECONNREFUSED');
    });
  });
}
