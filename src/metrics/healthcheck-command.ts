/**
 * `unireg healthcheck`: probes the running server's /readyz (or /livez with
 * --live) at the address its configuration binds, for the image's
 * HEALTHCHECK. The address comes from the same settings `serve` reads
 * (--config / $UNIREG_CONFIG, then UNIREG_* variables): a wildcard bind
 * (0.0.0.0, ::) is probed on loopback, a named interface on that interface.
 * Exit 0 when the answer is 200, 1 otherwise.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

const TIMEOUT_MS = 4_000;

export const HEALTHCHECK_USAGE = `usage: unireg healthcheck [--live] [--config FILE]

Asks the server this configuration describes whether it is ready (GET /readyz;
--live: GET /livez). Exit 0 when it answers 200, 1 otherwise.`;

/** The URL to probe for a server started with `config`. */
export function probeUrl(config: Config, path: string): string {
  const addr = config.http.addr;
  const i = addr.lastIndexOf(':');
  let host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  const scheme = config.http.tls.certificate === '' ? 'http' : 'https';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${addr.slice(i + 1)}${path}`;
}

function probe(url: string): Promise<number> {
  return new Promise((ok, fail) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    // The server's own certificate may name a public host, not the loopback address probed here.
    const req = send(url, { method: 'GET', timeout: TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.once('error', fail);
    req.end();
  });
}

export async function healthcheckCommand(args: string[]): Promise<number> {
  let values: { config?: string; live?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, live: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`unireg healthcheck: ${(err as Error).message}\n${HEALTHCHECK_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HEALTHCHECK_USAGE}\n`);
    return 0;
  }
  const config = await loadConfig({ file: values.config ?? process.env.UNIREG_CONFIG });
  const url = probeUrl(config, values.live ? '/livez' : '/readyz');
  try {
    const status = await probe(url);
    if (status === 200) return 0;
    process.stderr.write(`unireg healthcheck: ${url} answered ${status}\n`);
  } catch (err) {
    process.stderr.write(`unireg healthcheck: ${url}: ${(err as Error).message}\n`);
  }
  return 1;
}
