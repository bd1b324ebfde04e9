/**
 * Per-request HTTP figures kept in plain numbers and written out in the
 * exposition format at scrape time. prom-client hashes and validates a label
 * object on every inc/observe (its labelled children too), which was most of
 * what metrics cost a manifest GET; here a request costs one Map lookup by a
 * string key. The label sets are bounded: methods x route templates x statuses.
 */
/** Request latency buckets, seconds: manifest reads in milliseconds up to multi-minute blob transfers. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

interface RouteStats {
  method: string;
  route: string;
  statuses: Map<string, number>;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
  received: number;
  sent: number;
}

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function format(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

export class HttpStats {
  private readonly routes = new Map<string, RouteStats>();
  inFlight = 0;

  record(method: string, route: string, status: string, seconds: number, received: number, sent: number): void {
    const key = `${method} ${route}`;
    let stats = this.routes.get(key);
    if (!stats) {
      stats = { method, route, statuses: new Map(), buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0, received: 0, sent: 0 };
      this.routes.set(key, stats);
    }
    stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    stats.buckets[b]!++;
    stats.sum += seconds;
    stats.count++;
    stats.received += received;
    stats.sent += sent;
  }

  /** The HTTP families in the Prometheus text format (0.0.4), ending with a newline. */
  exposition(): string {
    const all = [...this.routes.values()];
    const labels = (s: RouteStats) => `method="${escape(s.method)}",route="${escape(s.route)}"`;
    const out: string[] = [];
    out.push('# HELP unireg_http_requests_total HTTP requests answered, by method, route template and status');
    out.push('# TYPE unireg_http_requests_total counter');
    for (const s of all) for (const [status, n] of s.statuses) out.push(`unireg_http_requests_total{${labels(s)},status="${escape(status)}"} ${n}`);
    out.push('# HELP unireg_http_request_duration_seconds Time from a request arriving to its response ending, by method and route template');
    out.push('# TYPE unireg_http_request_duration_seconds histogram');
    for (const s of all) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        out.push(`unireg_http_request_duration_seconds_bucket{${labels(s)},le="${le}"} ${cumulative}`);
      });
      out.push(`unireg_http_request_duration_seconds_bucket{${labels(s)},le="+Inf"} ${s.count}`);
      out.push(`unireg_http_request_duration_seconds_sum{${labels(s)}} ${format(s.sum)}`);
      out.push(`unireg_http_request_duration_seconds_count{${labels(s)}} ${s.count}`);
    }
    out.push('# HELP unireg_http_received_bytes_total Bytes read from the connection for a request (head and body), by method and route template');
    out.push('# TYPE unireg_http_received_bytes_total counter');
    for (const s of all) out.push(`unireg_http_received_bytes_total{${labels(s)}} ${s.received}`);
    out.push('# HELP unireg_http_sent_bytes_total Bytes written to the connection for a response (head and body), by method and route template');
    out.push('# TYPE unireg_http_sent_bytes_total counter');
    for (const s of all) out.push(`unireg_http_sent_bytes_total{${labels(s)}} ${s.sent}`);
    out.push('# HELP unireg_http_requests_in_flight Requests being handled now');
    out.push('# TYPE unireg_http_requests_in_flight gauge');
    out.push(`unireg_http_requests_in_flight ${this.inFlight}`);
    return `${out.join('\n')}\n`;
  }
}
