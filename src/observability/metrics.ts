import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Connection } from '../server/connection.js';
import type { Observer } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

/**
 * Prometheus metrics, fed by the same tracker events as the lifecycle log
 * (so the numbers and the log lines always agree). Loaded only when
 * `metricsPath` is set. Labels stay low-cardinality: method, status code,
 * close reason — never a path or a connection id.
 */
export class Metrics implements Observer {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'status_code'>;
  private readonly duration: Histogram<'method' | 'status_code'>;
  private readonly bodyBytes: Counter<'method'>;
  private readonly inFlight: Gauge;
  private readonly slow: Counter<'method'>;
  private readonly disconnects: Counter<'method'>;
  private readonly connectionsOpen: Gauge;
  private readonly connections: Counter<'reason'>;

  constructor(labels: Record<string, string | number>) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'pounce_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'status_code'], registers });
    this.duration = new Histogram({
      name: 'pounce_http_request_duration_seconds',
      help: 'Time from request head to response fully sent',
      labelNames: ['method', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.bodyBytes = new Counter({ name: 'pounce_http_response_body_bytes_total', help: 'Response body bytes sent', labelNames: ['method'], registers });
    this.inFlight = new Gauge({ name: 'pounce_http_requests_in_flight', help: 'Requests whose response is not complete', registers });
    this.slow = new Counter({ name: 'pounce_http_slow_requests_total', help: 'Requests still in flight past the slow threshold (RequestSlow)', labelNames: ['method'], registers });
    this.disconnects = new Counter({
      name: 'pounce_http_client_disconnects_total',
      help: 'Requests cut by the client before the response was complete (ClientDisconnected)',
      labelNames: ['method'],
      registers,
    });
    this.connectionsOpen = new Gauge({ name: 'pounce_connections_open', help: 'Client connections open now', registers });
    this.connections = new Counter({ name: 'pounce_connections_total', help: 'Client connections closed, by close reason', labelNames: ['reason'], registers });
  }

  connectionOpened(_conn: Connection): void {
    this.connectionsOpen.inc();
  }

  requestStarted(_rec: RequestRecord): void {
    this.inFlight.inc();
  }

  requestSlow(rec: RequestRecord): void {
    this.slow.inc({ method: methodLabel(rec.method) });
  }

  responseCompleted(rec: RequestRecord): void {
    const method = methodLabel(rec.method);
    const labels = { method, status_code: String(rec.status) };
    this.inFlight.dec();
    this.requests.inc(labels);
    this.duration.observe(labels, rec.durationMs / 1000);
    if (rec.bytesSent) this.bodyBytes.inc({ method }, rec.bytesSent);
  }

  clientDisconnected(rec: RequestRecord): void {
    this.inFlight.dec();
    this.disconnects.inc({ method: methodLabel(rec.method) });
    if (rec.bytesSent) this.bodyBytes.inc({ method: methodLabel(rec.method) }, rec.bytesSent);
  }

  requestAborted(rec: RequestRecord): void {
    this.inFlight.dec();
    if (rec.bytesSent) this.bodyBytes.inc({ method: methodLabel(rec.method) }, rec.bytesSent);
  }

  connectionCompleted(conn: Connection): void {
    this.connectionsOpen.dec();
    this.connections.inc({ reason: conn.reason ?? 'complete' });
  }

  /** Where a scrape's text comes from: this registry, or the whole cluster's (set by a worker). */
  source: () => Promise<string> = () => this.registry.metrics();

  /** Answer a scrape: GET/HEAD with the text exposition format, never logged. */
  async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      res.end();
      return;
    }
    let body: string;
    try {
      body = await this.source();
    } catch (err) {
      const message = `metrics unavailable: ${(err as Error).message}\n`;
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(message) });
      res.end(message);
      return;
    }
    res.writeHead(200, {
      'content-type': this.registry.contentType,
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}
