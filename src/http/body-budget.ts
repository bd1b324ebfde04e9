/**
 * The body budget: how many bytes of request bodies all requests together may
 * hold in memory (`http.bodyBudget`). Manifests, JSON and form bodies and
 * multipart text fields are read into memory; blobs and kernels never are.
 *
 * A request takes a lease, grows it before it buffers more (by its whole
 * Content-Length when it has one, chunk by chunk when it is chunked), and
 * releases it when the request is done with the bytes. A lease that cannot
 * grow fails the request with OverloadedError (503 TOOMANYREQUESTS, Retry-After),
 * so memory stays bounded however many clients send large bodies at once.
 */
import type { Context, Middleware } from 'koa';
import { OverloadedError } from '../domain/errors.js';

export class BodyBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** Bytes leased now. */
  get inUse(): number {
    return this.used;
  }

  lease(): BodyLease {
    return new BodyLease(this);
  }

  /** @internal for BodyLease */
  take(bytes: number): void {
    if (this.used + bytes > this.capacity) {
      throw new OverloadedError('too many request bodies in memory', 1, { bodyBudget: this.capacity });
    }
    this.used += bytes;
  }

  /** @internal for BodyLease */
  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** One request's share of the budget. */
export class BodyLease {
  private held = 0;
  private released = false;

  constructor(private readonly budget: BodyBudget) {}

  get bytes(): number {
    return this.held;
  }

  /** Takes `bytes` more; throws OverloadedError when the budget has not got them. */
  grow(bytes: number): void {
    if (this.released) throw new Error('lease already released');
    if (bytes <= 0) return;
    this.budget.take(bytes);
    this.held += bytes;
  }

  /** Gives everything back; later calls do nothing. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}

const LEASE = 'unireg.bodyLease';

/**
 * Route middleware giving the request a lease (`leaseOf(ctx)`) that is released
 * when the handler is done, however it ends.
 */
export function withBodyLease(budget: BodyBudget): Middleware {
  return async (ctx, next) => {
    const lease = budget.lease();
    ctx.state[LEASE] = lease;
    try {
      await next();
    } finally {
      lease.release();
    }
  };
}

/** The lease of a request that passed `withBodyLease`. */
export function leaseOf(ctx: Context): BodyLease {
  const lease = ctx.state[LEASE] as BodyLease | undefined;
  if (!lease) throw new Error('route has no body lease');
  return lease;
}
