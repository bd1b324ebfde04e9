/**
 * A throwaway PKI for end-to-end tests over TLS, made with `openssl` in a fresh
 * temporary directory: a CA (key + self-signed certificate) and a server
 * certificate for 127.0.0.1 signed by it (subjectAltName IP:127.0.0.1 and
 * DNS:localhost, as Go clients ignore the CN; extendedKeyUsage serverAuth).
 *
 * The clients are given the CA, never `--tls-verify=false`:
 * - skopeo/podman/buildah: `--cert-dir certDir` (a directory holding only `ca.crt`),
 * - dockerd: `/etc/docker/certs.d/HOST:PORT/ca.crt` (see installDockerCA),
 * - node:https in the tests: `agent` (an https.Agent trusting the CA).
 *
 * The caller gates on `openssl` (gateFor(['openssl', ...])) and removes `dir`
 * when done (removeScratch).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from './tools.js';

export interface TestPKI {
  /** The temporary directory everything is in. */
  dir: string;
  /** The CA certificate (PEM). */
  caCert: string;
  /** The CA private key (PEM). */
  caKey: string;
  /** The server certificate (PEM), for 127.0.0.1 and localhost. */
  cert: string;
  /** The server private key (PEM). */
  key: string;
  /** A directory holding only `ca.crt`: skopeo/podman `--cert-dir`. */
  certDir: string;
  /** The CA certificate's bytes. */
  caPem: Buffer;
  /** An https.Agent that trusts the CA (and nothing else). */
  agent: Agent;
}

/** Options for the TLS overrides of startTestServer: `startTestServer({ http: tlsServerConfig(pki) })`. */
export function tlsServerConfig(pki: TestPKI): { tls: { certificate: string; key: string } } {
  return { tls: { certificate: pki.cert, key: pki.key } };
}

const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd, timeout: 30_000 });

/** Makes the CA and the server certificate. Needs `openssl` on PATH. */
export async function makeTestPKI(prefix = 'unireg-tls-'): Promise<TestPKI> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.pem');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const certDir = join(dir, 'certs');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const tag = randomBytes(4).toString('hex');

  await openssl(
    [
      'req', '-x509', ...ec,
      '-keyout', caKey, '-out', caCert, '-days', '2', '-sha256',
      '-subj', `/O=unireg tests/CN=unireg test CA ${tag}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
    ],
    dir,
  );
  await openssl(['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', `/O=unireg tests/CN=127.0.0.1`], dir);
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'authorityKeyIdentifier=keyid',
      'subjectKeyIdentifier=hash',
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey,
      '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '2', '-sha256', '-extfile', ext, '-out', cert,
    ],
    dir,
  );
  await rm(csr, { force: true });
  // Sanity check: the chain verifies for 127.0.0.1 with serverAuth.
  await openssl(['verify', '-CAfile', caCert, '-purpose', 'sslserver', '-verify_ip', '127.0.0.1', cert], dir);

  await mkdir(certDir);
  await copyFile(caCert, join(certDir, 'ca.crt'));
  const caPem = await readFile(caCert);
  // keepAlive off: a test's requests must not keep the server's stop() waiting.
  const agent = new Agent({ ca: caPem, keepAlive: false });
  return { dir, caCert, caKey, cert, key, certDir, caPem, agent };
}

/** Where dockerd looks for the CA of registry HOST:PORT. */
export function dockerCertsDir(host: string): string {
  return join('/etc/docker/certs.d', host);
}

/**
 * Installs the CA for dockerd as `/etc/docker/certs.d/HOST:PORT/ca.crt` (dockerd
 * reads it on each connection, so this may happen after it started). Returns a
 * clean-up for after(): it removes that directory, and `certs.d` itself when this
 * call created it and it is empty again.
 */
export async function installDockerCA(pki: TestPKI, host: string): Promise<() => Promise<void>> {
  if (!/^[\w.-]+:\d+$/.test(host)) throw new Error(`not a HOST:PORT: ${host}`);
  const target = dockerCertsDir(host);
  const certsD = dirname(target);
  const createdRoot = !(await stat(certsD).then(() => true, () => false));
  await mkdir(target, { recursive: true });
  await copyFile(pki.caCert, join(target, 'ca.crt'));
  return async () => {
    await rm(target, { recursive: true, force: true });
    if (createdRoot) await rmdir(certsD).catch(() => undefined);
  };
}
