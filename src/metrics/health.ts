/**
 * Liveness and readiness, for load balancers, Kubernetes probes and the
 * image's HEALTHCHECK (`unireg healthcheck`).
 *
 *   /livez   200 whenever the process is serving at all.
 *   /readyz  200 when a metadata read (one LevelDB get) and a stat of the blob
 *            directory succeed and the server is not shutting down; otherwise 503.
 *            Shutdown flips it at once, before connections drain, so a balancer
 *            stops sending new work while in-flight requests finish.
 */
import { stat } from 'node:fs/promises';

export interface HealthAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface HealthProbes {
  /** A cheap metadata read; throws when the store cannot be read. */
  metadata(): Promise<unknown>;
  /** The blob directory that must be reachable. */
  blobsDir: string;
  /** Instead of a stat of blobsDir: a check that the blob storage answers (S3: HeadBucket). */
  blobs?: () => Promise<unknown>;
}

/** A check that takes longer than this counts as failed: a probe must answer quickly. */
const CHECK_TIMEOUT_MS = 2_000;

async function within(check: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((ok) => {
    timer = setTimeout(() => ok(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check.then(() => 'ok'), timeout]);
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    clearTimeout(timer);
  }
}

export class Health {
  private shuttingDown = false;

  constructor(private readonly probes: HealthProbes) {}

  /** From now on /readyz answers 503 (called first thing on shutdown). */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  live(): HealthAnswer {
    return { status: 200, body: { status: 'live' } };
  }

  async ready(): Promise<HealthAnswer> {
    if (this.shuttingDown) return { status: 503, body: { status: 'shutting down' } };
    const [metadata, blobs] = await Promise.all([within(this.probes.metadata()), within(this.probes.blobs?.() ?? stat(this.probes.blobsDir))]);
    // Shutdown may have begun while the checks ran: it wins.
    const status = this.shuttingDown ? 'shutting down' : metadata === 'ok' && blobs === 'ok' ? 'ready' : 'not ready';
    return { status: status === 'ready' ? 200 : 503, body: { status, checks: { metadata, blobs } } };
  }
}
