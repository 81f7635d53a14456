import type { TLSSocket } from 'node:tls';
import {
  context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapPropagator,
} from '@opentelemetry/api';
import type { Observer, RequestTracing } from '../../server/observer.js';
import type { RequestRecord } from '../../server/request-record.js';
import type { ServerSpanFactory } from './span.js';

/** Methods the HTTP semantic conventions know; anything else is `_OTHER`. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/** What tracing keeps on `rec.span`. */
interface TracedRequest {
  readonly span: Span;
  /** The span's context (parent context + span): active while the app runs. */
  readonly context: Context;
  /** Span name without route: the method, or HTTP for an unknown method. */
  readonly baseName: string;
}

/**
 * One SERVER span per request, created by pounce itself (no monkey patching).
 *
 * - requestStarted: the incoming W3C traceparent/tracestate (and baggage) are
 *   the parent; the span's own ids go on the record, so every lifecycle event,
 *   access line and `currentRequest().log` line of the request carries them,
 *   and back to the client in a `traceresponse` header.
 * - runApp: the span is the active context while the app runs, so the app's
 *   own spans nest under it.
 * - requestSlow / clientDisconnected: span events.
 * - responseCompleted / clientDisconnected: status code, route, error status,
 *   end at the instant the lifecycle log reports.
 *
 * Health checks (`rec.deferred`) are never traced.
 */
export class TracingObserver implements Observer, RequestTracing {
  constructor(
    private readonly spans: ServerSpanFactory,
    private readonly propagator: TextMapPropagator,
    private readonly workerId: number,
    private readonly thresholdMs: number,
  ) {}

  begin(rec: RequestRecord): void {
    if (rec.deferred) return;
    const req = rec.req;
    const headers = req.headers;
    const conn = rec.conn;
    const parent =
      headers.traceparent === undefined && headers.baggage === undefined
        ? ROOT_CONTEXT
        : this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    const known = KNOWN_METHODS.has(rec.method);
    const scheme = (req.socket as TLSSocket).encrypted ? 'https' : rec.scheme;
    const attributes: Attributes = {
      'http.request.method': known ? rec.method : '_OTHER',
      'url.path': rec.path,
      'url.scheme': scheme,
      'network.protocol.version': req.httpVersion === '2.0' ? '2' : req.httpVersion,
      'client.address': rec.clientAddr,
      'server.address': conn.serverAddr,
      'server.port': conn.serverPort,
      'pounce.connection_id': conn.id,
      'pounce.worker_id': this.workerId,
    };
    if (!known) attributes['http.request.method_original'] = rec.method;
    const host = headers.host ?? headers[':authority'];
    if (typeof host === 'string' && host !== '') serverFromHost(host, scheme, attributes);
    const userAgent = headers['user-agent'];
    if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;

    const baseName = known ? rec.method : 'HTTP';
    const span = this.spans.start(baseName, attributes, rec.startedAt, parent);
    const ids = span.spanContext();
    const flags = ids.traceFlags < 16 ? '0' + ids.traceFlags.toString(16) : ids.traceFlags.toString(16);
    rec.trace = { traceId: ids.traceId, spanId: ids.spanId, traceFlags: flags };
    rec.span = { span, context: trace.setSpan(parent, span), baseName } satisfies TracedRequest;
    // Before the app can write its head: the client learns the trace id of its request
    // (W3C Trace Context Level 2 `traceresponse`: version-traceid-spanid-flags of pounce's span).
    if (!rec.res.headersSent) rec.res.setHeader('traceresponse', `00-${ids.traceId}-${ids.spanId}-${flags}`);
  }

  runApp<T>(rec: RequestRecord, run: () => T): T {
    const traced = rec.span as TracedRequest | undefined;
    return traced ? context.with(traced.context, run) : run();
  }

  requestSlow(rec: RequestRecord, now: number): void {
    const span = (rec.span as TracedRequest | undefined)?.span;
    if (!span?.isRecording()) return;
    span.addEvent(
      'request.slow',
      { 'pounce.elapsed_ms': Math.round(now - rec.startedAt), 'pounce.threshold_ms': this.thresholdMs },
      now,
    );
  }

  responseCompleted(rec: RequestRecord): void {
    this.finish(rec, false);
  }

  clientDisconnected(rec: RequestRecord): void {
    this.finish(rec, true);
  }

  requestAborted(rec: RequestRecord): void {
    this.finish(rec, true);
  }

  private finish(rec: RequestRecord, disconnected: boolean): void {
    const traced = rec.span as TracedRequest | undefined;
    if (!traced) return;
    rec.span = undefined;
    const span = traced.span;
    if (!span.isRecording()) return;
    const res = rec.res;
    if (!disconnected || res.headersSent) span.setAttribute('http.response.status_code', rec.status);
    if (rec.route !== undefined) {
      span.updateName(`${traced.baseName} ${rec.route}`);
      span.setAttribute('http.route', rec.route);
    }
    if (disconnected && rec.endedBy === 'client') {
      span.addEvent(
        'client.disconnected',
        {
          'pounce.during_streaming': res.headersSent,
          'pounce.bytes_sent': rec.bytesSent,
        },
        rec.finishedAt,
      );
    }
    const err = rec.appError;
    if (err !== undefined) {
      const exception = err instanceof Error ? err : { name: 'Error', message: String(err) };
      span.recordException(exception, rec.finishedAt);
      span.setAttribute('error.type', errorType(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message });
    } else if (disconnected) {
      span.setAttribute('error.type', rec.endCause ?? 'client_disconnect');
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${rec.endedBy ?? 'client'} ended the request before the response was complete` });
    } else if (rec.status >= 500) {
      span.setAttribute('error.type', String(rec.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(rec.finishedAt);
  }
}

/** `server.address`/`server.port` from the Host header, the way the semantic conventions ask. */
function serverFromHost(host: string, scheme: string, attributes: Attributes): void {
  let name = host;
  let port: number | undefined;
  const close = host.lastIndexOf(']');
  const colon = host.lastIndexOf(':');
  if (colon > close) {
    name = host.slice(0, colon);
    const n = Number(host.slice(colon + 1));
    if (Number.isInteger(n) && n > 0 && n < 65536) port = n;
  }
  if (name.startsWith('[') && close > 0) name = name.slice(1, close);
  if (name === '') return;
  if (name.length > 255) name = name.slice(0, 255);
  attributes['server.address'] = name;
  attributes['server.port'] = port ?? (scheme === 'https' ? 443 : 80);
}

function errorType(err: unknown): string {
  if (err instanceof Error) return err.constructor?.name && err.constructor.name !== 'Object' ? err.constructor.name : err.name;
  return typeof err;
}
