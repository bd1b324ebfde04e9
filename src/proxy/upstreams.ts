/**
 * Which upstream serves a repository name, and under which remote name (pure).
 *
 *   `PREFIX/path`            → the upstream with that prefix, remote `path`
 *   `path` + `?ns=HOST`      → the upstream whose URL host is HOST (containerd's hosts.toml mirrors),
 *                              local name `PREFIX/path`
 *   `path` under no prefix   → the `default` upstream (Docker's registry-mirrors), local `PREFIX/path`
 *
 * Docker Hub names of one component are official images: `alpine` is `library/alpine` there, as
 * Docker itself spells it. The upstream's include/exclude globs apply to the remote name.
 */
import { durationMs } from '../config/duration.js';
import type { UpstreamConfig } from '../config/proxy-schema.js';
import { globToRegExp } from '../policy/globs.js';

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** `docker.io` and its aliases are one host; others compare as `host[:port]`, lower case. */
function hostKey(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(h) ? 'docker.io' : h;
}

export class Upstream {
  readonly prefix: string;
  /** The base URL without a trailing slash. */
  readonly url: string;
  /** host[:port] of the URL, Docker Hub's aliases folded to `docker.io`. */
  readonly host: string;
  readonly manifestTtlMs: number;
  readonly isDefault: boolean;
  readonly dockerHub: boolean;
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];

  constructor(readonly config: UpstreamConfig) {
    this.prefix = config.prefix;
    this.url = config.url.replace(/\/+$/, '');
    this.host = hostKey(new URL(this.url).host);
    this.dockerHub = this.host === 'docker.io';
    this.manifestTtlMs = durationMs(config.manifestTTL);
    this.isDefault = config.default;
    this.include = config.include.map(globToRegExp);
    this.exclude = config.exclude.map(globToRegExp);
  }

  /** The upstream's name for a remote path (Docker Hub's `library/` for one-component names). */
  remoteName(path: string): string {
    return this.dockerHub && !path.includes('/') ? `library/${path}` : path;
  }

  /** Whether the include/exclude globs let this remote name through. */
  serves(remote: string): boolean {
    return this.include.some((g) => g.test(remote)) && !this.exclude.some((g) => g.test(remote));
  }
}

export interface UpstreamMatch {
  upstream: Upstream;
  /** The repository's name at the upstream. */
  remote: string;
}

export class Upstreams {
  readonly list: readonly Upstream[];
  readonly fallback: Upstream | undefined;

  constructor(configs: readonly UpstreamConfig[]) {
    this.list = configs.map((c) => new Upstream(c));
    this.fallback = this.list.find((u) => u.isDefault);
  }

  get enabled(): boolean {
    return this.list.length > 0;
  }

  /** The upstream whose prefix holds `repo` (whatever its globs say): pushes there are refused. */
  prefixOf(repo: string): Upstream | undefined {
    return this.list.find((u) => repo.startsWith(`${u.prefix}/`));
  }

  /** The upstream that serves the local repository `repo`, and its remote name; undefined: a local repository. */
  match(repo: string): UpstreamMatch | undefined {
    const upstream = this.prefixOf(repo);
    if (upstream === undefined) return undefined;
    const remote = upstream.remoteName(repo.slice(upstream.prefix.length + 1));
    return upstream.serves(remote) ? { upstream, remote } : undefined;
  }

  /** The upstream a containerd mirror request names with `?ns=HOST`. */
  byNamespace(ns: string): Upstream | undefined {
    const key = hostKey(ns);
    return this.list.find((u) => u.host === key);
  }

  /**
   * The local name an unprefixed request stands for: `?ns=` picks the upstream, else the default
   * one does. Undefined when the name is to be served as it is.
   */
  localName(repo: string, ns: string | undefined): string | undefined {
    if (this.prefixOf(repo) !== undefined) return undefined;
    const upstream = ns !== undefined && ns !== '' ? this.byNamespace(ns) : this.fallback;
    if (upstream === undefined) return undefined;
    const local = `${upstream.prefix}/${upstream.remoteName(repo)}`;
    return local.length <= 255 ? local : undefined;
  }
}
