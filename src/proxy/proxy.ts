/**
 * The pull-through cache (config `proxy`, docs/proxy.md): which repositories
 * are proxied, their upstream clients, manifests, blobs and tallies.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Registry } from '../registry/registry.js';
import { ProxyBlobs } from './blobs.js';
import { UpstreamClient } from './client.js';
import { ProxyPushRefusedError } from './errors.js';
import { ProxyManifests } from './manifests.js';
import { ProxyStats } from './stats.js';
import { Upstreams, type Upstream, type UpstreamMatch } from './upstreams.js';

export class Proxy {
  readonly upstreams: Upstreams;
  readonly stats = new ProxyStats();
  readonly manifests: ProxyManifests;
  readonly blobs: ProxyBlobs;
  private readonly clients = new Map<Upstream, UpstreamClient>();

  constructor(
    private readonly config: Config,
    private readonly registry: Registry,
    log: Logger,
  ) {
    this.upstreams = new Upstreams(config.proxy.upstreams);
    for (const u of this.upstreams.list) this.clients.set(u, new UpstreamClient(u));
    const clientOf = (m: UpstreamMatch) => this.clients.get(m.upstream)!;
    const plog = log.child({ component: 'proxy' });
    this.manifests = new ProxyManifests(registry, clientOf, this.stats, plog);
    this.blobs = new ProxyBlobs(registry, clientOf, this.stats, plog);
  }

  /** A proxy only when upstreams are configured. */
  static create(config: Config, registry: Registry, log: Logger): Proxy | undefined {
    return config.proxy.upstreams.length > 0 ? new Proxy(config, registry, log) : undefined;
  }

  match(repo: string): UpstreamMatch | undefined {
    return this.upstreams.match(repo);
  }

  client(upstream: Upstream): UpstreamClient {
    return this.clients.get(upstream)!;
  }

  /** Lets the blob fetches under way finish storing (clients may have had every byte already). */
  close(): Promise<void> {
    return this.blobs.drain();
  }

  /** Refuses a push into a proxied prefix unless `proxy.allowPush`. */
  checkPush(repo: string): void {
    if (this.config.proxy.allowPush) return;
    const upstream = this.upstreams.prefixOf(repo);
    if (upstream !== undefined) throw new ProxyPushRefusedError(repo, upstream.prefix);
  }

  /**
   * The local repository a pull of `repo` stands for: with `?ns=`, the named upstream's prefix;
   * under no prefix, the default upstream's, unless a local repository has that name.
   */
  async localName(repo: string, ns: string | undefined): Promise<string | undefined> {
    const local = this.upstreams.localName(repo, ns);
    if (local === undefined) return undefined;
    if ((ns === undefined || ns === '') && (await this.registry.deps.meta.hasRepository(repo))) return undefined;
    return local;
  }
}
