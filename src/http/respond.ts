/** Small response helpers shared by the route groups. */
import type { Context } from 'koa';

/** An empty body with an explicit status (Koa would turn a null body into 204). */
export function empty(ctx: Context, status: number, headers: Record<string, string> = {}): void {
  ctx.body = '';
  ctx.remove('Content-Type');
  ctx.status = status;
  ctx.set(headers);
}

export function jsonBody(ctx: Context, value: unknown, contentType = 'application/json'): void {
  bytesBody(ctx, Buffer.from(JSON.stringify(value)), contentType);
}

/** A 200 with bytes already encoded (e.g. a cached JSON body). */
export function bytesBody(ctx: Context, bytes: Buffer, contentType: string): void {
  ctx.status = 200;
  ctx.body = bytes;
  ctx.type = contentType;
}
