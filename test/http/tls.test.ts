/**
 * HTTPS: with http.tls set, unireg serves TLS with the given certificate (the
 * test makes a CA and a certificate with openssl), keeps connections alive,
 * names an https realm in token challenges, and refuses to start when the
 * files cannot be read.
 */
import assert from 'node:assert/strict';
import { get, request } from 'node:https';
import { get as plainGet } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { startServer } from '../../src/main.js';
import { HASH, basic } from '../helpers/auth-http.js';
import { makeRoot, startTestServer, type TestServer } from '../helpers/server.js';
import { makeTestPKI, tlsServerConfig, type TestPKI } from '../helpers/tls.js';
import { gateFor, removeScratch } from '../helpers/tools.js';
import { Agent } from 'node:https';
import { pino } from 'pino';

const gate = await gateFor(['openssl']);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Whether the certificate chained to a trusted CA, and the local port (which connection it was). */
  authorized: boolean;
  subjectAltName: string | undefined;
  localPort: number | undefined;
}

function fetchTls(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      const socket = res.socket as TLSSocket;
      const facts = { authorized: socket.authorized, subjectAltName: socket.getPeerCertificate().subjectaltname, localPort: socket.localPort };
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ...facts }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS', () => {
  let pki: TestPKI | undefined;
  let srv: TestServer | undefined;
  before(async () => {
    if (gate.blocked) return;
    pki = await makeTestPKI();
    srv = await startTestServer({ http: tlsServerConfig(pki), auth: { mode: 'token', users: { alice: HASH } } });
  });
  after(async () => {
    await srv?.destroy();
    pki?.agent.destroy();
    await removeScratch(pki?.dir);
  });

  test('serves HTTPS with the configured certificate; the URL says https', async (t) => {
    if (!gate.check(t)) return;
    assert.match(srv!.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetchTls(`${srv!.url}/v2/`, pki!.agent);
    assert.equal(res.status, 401);
    assert.equal(res.authorized, true, 'the certificate chains to the test CA');
    assert.equal(res.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost');
  });

  test('the token realm in challenges is https, and the token flow works over it', async (t) => {
    if (!gate.check(t)) return;
    const challenge = await fetchTls(`${srv!.url}/v2/`, pki!.agent);
    assert.equal(challenge.headers['www-authenticate'], `Bearer realm="${srv!.url}/auth/token",service="unireg"`);
    const token = await fetchTls(`${srv!.url}/auth/token?service=unireg`, pki!.agent, { Authorization: basic('alice') });
    assert.equal(token.status, 200, token.body);
    const { token: jwt } = JSON.parse(token.body) as { token: string };
    assert.equal((await fetchTls(`${srv!.url}/v2/`, pki!.agent, { Authorization: `Bearer ${jwt}` })).status, 200);
  });

  test('keep-alive: several requests share one TLS connection', async (t) => {
    if (!gate.check(t)) return;
    const agent = new Agent({ ca: pki!.caPem, keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetchTls(`${srv!.url}/v2/`, agent);
      const second = await fetchTls(`${srv!.url}/v2/`, agent);
      assert.ok(first.localPort !== undefined);
      assert.equal(first.localPort, second.localPort, 'the second request came over the first connection');
    } finally {
      agent.destroy();
    }
  });

  test('a client that does not trust the CA is refused the handshake; plain HTTP gets no API', async (t) => {
    if (!gate.check(t)) return;
    await assert.rejects(
      new Promise((resolve, reject) => get(`${srv!.url}/v2/`, { agent: false }, resolve).on('error', reject)),
      /self[- ]signed|unable to (get|verify)|certificate/i,
    );
    const plain = await new Promise<number | string>((resolve) => {
      plainGet(srv!.url.replace('https:', 'http:') + '/v2/', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.notEqual(plain, 200, 'no registry answer over plain HTTP');
  });

  test('missing certificate files stop the start with a message naming the setting', async (t) => {
    if (!gate.check(t)) return;
    const root = await makeRoot();
    try {
      const config = configSchema.parse({
        http: { addr: '127.0.0.1:0', tls: { certificate: `${pki!.dir}/missing.crt`, key: pki!.key } },
        storage: { root },
        log: { level: 'silent' },
      });
      await assert.rejects(startServer(config, pino({ level: 'silent' })), /cannot read http\.tls\.certificate .*missing\.crt/);
      const swapped = configSchema.parse({
        http: { addr: '127.0.0.1:0', tls: { certificate: pki!.key, key: pki!.cert } },
        storage: { root },
        log: { level: 'silent' },
      });
      await assert.rejects(startServer(swapped, pino({ level: 'silent' })), /http\.tls/);
    } finally {
      await removeScratch(root);
    }
  });
});
