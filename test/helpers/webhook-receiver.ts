/**
 * A webhook receiver owned by a test: a real HTTP server on 127.0.0.1 (free
 * port) that records every request with its raw body, and answers as the test
 * says (a status, after an optional wait, or never until released).
 */
import { once, EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  data: Record<string, unknown>;
}

export interface Delivery {
  /** The exact bytes received. */
  body: Buffer;
  headers: IncomingHttpHeaders;
  event: ReceivedEvent;
  /** 1 for the first request carrying this event id, 2 for the next... */
  attempt: number;
}

/** A status to answer, or 'hang': keep the request open until release(). */
export type Answer = number | 'hang';

export class WebhookReceiver {
  /** Every request, in arrival order. */
  readonly requests: Delivery[] = [];
  /** Requests answered 2xx, in the order the answers were sent. */
  readonly delivered: Delivery[] = [];
  /** Most requests open at once. */
  maxOpen = 0;
  /** Decides each answer; may wait (a slow receiver). Default: 200. */
  answer: (d: Delivery) => Answer | Promise<Answer> = () => 200;
  private open = 0;
  private readonly hung = new Set<ServerResponse>();
  private readonly changes = new EventEmitter();
  private readonly seen = new Map<string, number>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void receiver.handle(Buffer.concat(chunks), req.headers, res));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  private async handle(body: Buffer, headers: IncomingHttpHeaders, res: ServerResponse): Promise<void> {
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    res.on('close', () => {
      this.open--;
      this.hung.delete(res);
    });
    const event = JSON.parse(body.toString('utf8')) as ReceivedEvent;
    const attempt = (this.seen.get(event.id) ?? 0) + 1;
    this.seen.set(event.id, attempt);
    const delivery: Delivery = { body, headers, event, attempt };
    this.requests.push(delivery);
    this.changes.emit('change');
    const answer = await this.answer(delivery);
    if (answer === 'hang') {
      this.hung.add(res);
      return;
    }
    if (answer >= 200 && answer < 300) this.delivered.push(delivery);
    res.statusCode = answer;
    res.end();
    this.changes.emit('change');
  }

  /** Resolves once `done()` holds (checked on every request and answer); fails after `limitMs` as a hang guard. */
  async until(what: string, done: () => boolean, limitMs = 30_000): Promise<void> {
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.changes.off('change', check);
        reject(new Error(`webhook receiver: still waiting for ${what} (${this.requests.length} requests, ${this.delivered.length} delivered)`));
      }, limitMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.changes.off('change', check);
        resolve();
      };
      this.changes.on('change', check);
    });
  }

  /** Delivered events of one repository (subject), in delivery order. */
  deliveredFor(subject: string): Delivery[] {
    return this.delivered.filter((d) => d.event.subject === subject);
  }

  /** Cuts every hung request (the sender sees a failed attempt). */
  dropHung(): void {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  async close(): Promise<void> {
    this.dropHung();
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}
