/**
 * Where a client command talks to: `HOST[:PORT]/REPO[:TAG]`.
 *
 *   127.0.0.1:5000/hello            repo `hello`, tag `latest`
 *   localhost:5000/apps/nginx:v1    repo `apps/nginx`, tag `v1`
 *   [::1]:5000/hello:dev            IPv6 literals go in brackets
 *   registry.example.com/hello      no port: 443 (https) or 80 (http)
 *
 * The scheme is `http` for loopback hosts (localhost, 127.0.0.0/8, ::1) and
 * `https` for every other host; `--plain-http` forces `http`. An explicit
 * `http://` or `https://` prefix on the reference wins over both.
 */
import { isValidTag, parseRepoName } from '../oci/names.js';

export type Scheme = 'http' | 'https';

export interface Target {
  /** `host[:port]` as written (brackets kept for IPv6): the key for credentials and what users see. */
  host: string;
  /** The host name or address to connect to (no brackets). */
  hostname: string;
  /** The port, when one was given. */
  port: number | undefined;
  repo: string;
  tag: string;
  /** Whether the reference named a tag (`latest` is the default otherwise). */
  tagGiven: boolean;
  scheme: Scheme;
}

export interface TargetOptions {
  /** Talk plain HTTP to any host (`--plain-http`). */
  plainHttp?: boolean;
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]+)?$/;

/** Hosts that get plain HTTP without asking: the registry runs on this machine. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (/^127(?:\.\d{1,3}){3}$/.test(h)) return true;
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

function parseHost(hostPart: string, ref: string): { hostname: string; port: number | undefined } {
  let hostname: string;
  let portText: string | undefined;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    if (close < 0) throw new TargetError(`${ref}: unterminated IPv6 address (write [::1]:5000/repo)`);
    hostname = hostPart.slice(1, close);
    const rest = hostPart.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new TargetError(`${ref}: expected :PORT after ]`);
      portText = rest.slice(1);
    }
    if (!IPV6.test(hostname) || !hostname.includes(':')) throw new TargetError(`${ref}: invalid IPv6 address ${hostname}`);
  } else {
    const colons = hostPart.split(':').length - 1;
    if (colons > 1) throw new TargetError(`${ref}: put an IPv6 address in brackets, e.g. [::1]:5000/repo`);
    const colon = hostPart.indexOf(':');
    hostname = colon < 0 ? hostPart : hostPart.slice(0, colon);
    portText = colon < 0 ? undefined : hostPart.slice(colon + 1);
    if (!HOSTNAME.test(hostname)) throw new TargetError(`${ref}: invalid host ${JSON.stringify(hostname)}`);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new TargetError(`${ref}: invalid port ${JSON.stringify(portText)}`);
  }
  return { hostname, port };
}

/** An optional `http://` or `https://` prefix, and the rest of the reference. */
function splitScheme(ref: string): { scheme: Scheme | undefined; rest: string } {
  const text = ref.trim();
  const prefixed = /^(https?):\/\//i.exec(text);
  if (!prefixed) return { scheme: undefined, rest: text };
  return { scheme: (prefixed[1] ?? '').toLowerCase() as Scheme, rest: text.slice(prefixed[0].length) };
}

/** Parses `HOST[:PORT]/REPO[:TAG]` (optionally prefixed with `http://` or `https://`). */
export function parseTarget(ref: string, opts: TargetOptions = {}): Target {
  const split = splitScheme(ref);
  let { scheme } = split;
  let rest = split.rest;
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) {
    throw new TargetError(`${JSON.stringify(ref)} is not HOST:PORT/REPO[:TAG] (e.g. 127.0.0.1:5000/hello:latest)`);
  }
  const hostPart = rest.slice(0, slash);
  const { hostname, port } = parseHost(hostPart, ref);
  let path = rest.slice(slash + 1);
  if (path.includes('@')) throw new TargetError(`${ref}: a digest reference is not supported here; name a tag`);
  let tag = 'latest';
  let tagGiven = false;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    tagGiven = true;
    if (!isValidTag(tag)) throw new TargetError(`${ref}: invalid tag ${JSON.stringify(tag)}`);
  }
  try {
    parseRepoName(path);
  } catch {
    throw new TargetError(`${ref}: invalid repository name ${JSON.stringify(path)} (lowercase a-z, 0-9, separators . _ __ - and /)`);
  }
  scheme ??= opts.plainHttp || isLoopback(hostname) ? 'http' : 'https';
  return { host: hostPart.toLowerCase(), hostname, port, repo: path, tag, tagGiven, scheme };
}

/**
 * The server of an absolute `http(s)://` URL as a Target (a token realm, which may
 * be on another host than the registry); `repo` and `tag` are empty.
 */
export function urlTarget(url: URL): Target {
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') throw new TargetError(`${url.protocol}//${url.host}: not an http or https URL`);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (hostname === '') throw new TargetError(`${url.protocol}//: no host`);
  return { host: url.host.toLowerCase(), hostname, port: url.port === '' ? undefined : Number(url.port), repo: '', tag: '', tagGiven: false, scheme };
}

/** `scheme://host[:port]`, the registry's base URL. */
export function baseUrl(target: Target): string {
  return `${target.scheme}://${target.host}`;
}

/** `host[:port]/repo:tag`, for messages. */
export function describeTarget(target: Target): string {
  return `${target.host}/${target.repo}:${target.tag}`;
}

/** The one positional `HOST:PORT/REPO[:TAG]` of a client command; `usage` builds its error. */
export function targetArgument(
  positionals: readonly string[],
  options: { plainHttp?: boolean | undefined },
  usage: (message: string) => Error,
): Target {
  return oneArgument(positionals, 'HOST:PORT/REPO[:TAG]', (ref) => parseTarget(ref, options), usage);
}

/**
 * Parses `HOST[:PORT]` (optionally prefixed with `http://` or `https://`, a trailing `/`
 * allowed): a registry as a whole, for the maintenance commands. `repo` and `tag` are empty.
 */
export function parseRegistry(ref: string, opts: TargetOptions = {}): Target {
  const split = splitScheme(ref);
  let { scheme } = split;
  let rest = split.rest;
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  if (rest === '' || rest.includes('/')) throw new TargetError(`${JSON.stringify(ref)} is not HOST[:PORT] (e.g. 127.0.0.1:5000)`);
  const { hostname, port } = parseHost(rest, ref);
  scheme ??= opts.plainHttp || isLoopback(hostname) ? 'http' : 'https';
  return { host: rest.toLowerCase(), hostname, port, repo: '', tag: '', tagGiven: false, scheme };
}

/** The one positional `HOST[:PORT]` of a maintenance command; `usage` builds its error. */
export function registryArgument(
  positionals: readonly string[],
  options: { plainHttp?: boolean | undefined },
  usage: (message: string) => Error,
): Target {
  return oneArgument(positionals, 'HOST[:PORT]', (ref) => parseRegistry(ref, options), usage);
}

/** The one positional argument of a command, parsed; a usage error when there is not exactly one or it does not parse. */
function oneArgument(positionals: readonly string[], what: string, parse: (ref: string) => Target, usage: (message: string) => Error): Target {
  if (positionals.length !== 1) throw usage(positionals.length === 0 ? `missing ${what}` : `expected one ${what}, got ${positionals.length}`);
  try {
    return parse(positionals[0] ?? '');
  } catch (err) {
    throw usage((err as Error).message);
  }
}
