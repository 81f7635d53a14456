import type { ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { getRPCMetadata, RPCType, setRPCMetadata, type RPCMetadata } from '@opentelemetry/core';
import { runOutsideRequests } from '../../app/context.js';
import type { Observer, RequestTracing } from '../../server/observer.js';
import type { RequestRecord } from '../../server/request-record.js';
import { detectRoute } from './route.js';

/** Methods the HTTP semantic conventions know; anything else is `_OTHER`. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/** Query parameters whose values the semantic conventions ask to redact (signed URLs). */
const REDACTED_QUERY = /(^|&)(AWSAccessKeyId|Signature|sig|X-Goog-Signature)=[^&]*/g;

/**
 * Attributes set when the response ends, most important first. Slots are kept
 * free for them under a small OTEL_[SPAN_]ATTRIBUTE_COUNT_LIMIT, so that the
 * status code is never the attribute the limit drops.
 */
const END_ATTRIBUTES = 3; // http.response.status_code, error.type, http.route
/** The most attributes begin() sets (the 9 always set, host's 2 overwrite theirs, 6 optional). */
const BEGIN_ATTRIBUTES_MAX = 16;

/** The API's keys (createContextKey is Symbol.for of these descriptions, in every copy of the API). */
const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');
const RPC_METADATA_KEY = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');
/** pounce's request context (currentRequest()), when the span's context carries it. */
export const POUNCE_REQUEST_KEY = createContextKey('pounce request');

/**
 * The request's context: its parent's values plus the SERVER span and its RPC
 * metadata. The API's contexts copy their whole map on every setValue (two
 * copies and six closures per request for these two values); this one holds
 * them in fields and asks its parent for the rest. Immutable, like every
 * Context: setValue and deleteValue return a new context on top of it.
 */
class RequestContextValues implements Context {
  /** pounce's request context, set before the context is first made active (runApp), never after. */
  request: object | undefined = undefined;

  constructor(
    private readonly parent: Context,
    private readonly span: Span,
    private readonly meta: RPCMetadata,
  ) {}

  getValue(key: symbol): unknown {
    if (key === SPAN_KEY) return this.span;
    if (key === RPC_METADATA_KEY) return this.meta;
    if (key === POUNCE_REQUEST_KEY && this.request !== undefined) return this.request;
    return this.parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return new ContextValue(this, key, value);
  }

  deleteValue(key: symbol): Context {
    return new ContextValue(this, key, undefined);
  }
}

/** One value on top of a context (undefined: the key deleted). */
class ContextValue implements Context {
  constructor(
    private readonly parent: Context,
    private readonly key: symbol,
    private readonly value: unknown,
  ) {}

  getValue(key: symbol): unknown {
    return key === this.key ? this.value : this.parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return new ContextValue(this, key, value);
  }

  deleteValue(key: symbol): Context {
    return new ContextValue(this, key, undefined);
  }
}

/** The registered API finds the span and the RPC metadata in a RequestContextValues (the keys are the ones it uses). */
function requestContextValuesWork(): boolean {
  const span = trace.wrapSpanContext({ traceId: '1'.repeat(32), spanId: '1'.repeat(16), traceFlags: 0 });
  const meta: RPCMetadata = { type: RPCType.HTTP, span };
  const ctx = new RequestContextValues(ROOT_CONTEXT, span, meta);
  return trace.getSpan(ctx) === span && getRPCMetadata(ctx) === meta && trace.getSpan(ctx.deleteValue(SPAN_KEY)) === undefined;
}

/** What tracing keeps on the record for one request. */
interface TracedRequest {
  readonly span: Span;
  /** Active while the app runs: pounce's span (own) or the instrumentation's context (adopted). */
  readonly context: Context;
  /** Span name without route: the method, or HTTP for an unknown method. */
  readonly baseName: string;
  /** pounce made the span (and ends it); false: an instrumentation made it, pounce decorates. */
  readonly own: boolean;
  /** The RPC metadata in the app's context: OpenTelemetry instrumentations report the route here. */
  readonly meta: RPCMetadata | undefined;
}

export interface RequestTracerOptions {
  workerId: number;
  thresholdMs: number;
  /** The SDK's attribute count limit, as far as pounce can know it (env); refined from the first span. */
  attributeCountLimit: number;
}

/**
 * One SERVER span per request, made through `@opentelemetry/api` on whatever
 * TracerProvider and propagator are registered.
 *
 * - begin (called by the tracker before any observer hears of the request): if an instrumentation
 *   (instrumentation-http) already made a SERVER span for this request — it is
 *   the active span while pounce's request listener runs — pounce adopts it:
 *   adds its attributes, lets the instrumentation end it, logs its ids.
 *   Otherwise pounce starts its own span, the incoming context (traceparent,
 *   b3, jaeger: whatever propagator is registered) as its parent. Either way
 *   the span's ids go on the record (every lifecycle line, access line and
 *   `currentRequest().log` line carries them, also when not sampled) and back
 *   to the client in `traceresponse`.
 * - runApp: pounce's span is the active context while the app runs.
 * - requestSlow / clientDisconnected: span events.
 * - responseCompleted / clientDisconnected / requestAborted: status, route,
 *   error; end at the instant the lifecycle log reports.
 *
 * Health checks (`rec.deferred`) are never traced.
 */
export class RequestTracer implements Observer, RequestTracing {
  private attributeCountLimit: number;
  private limitKnown = false;
  /** RequestContextValues answers as the API's own contexts do (checked once; otherwise the API's). */
  private readonly ownContexts = requestContextValuesWork();
  private carrying = false;

  constructor(
    private readonly tracer: Tracer,
    private readonly options: RequestTracerOptions,
  ) {
    this.attributeCountLimit = options.attributeCountLimit;
  }

  /** Start (or adopt) the request's SERVER span and put its ids on the record. */
  begin(rec: RequestRecord): void {
    if (rec.deferred || rec.span !== undefined) return;
    const active = context.active();
    const current = trace.getSpan(active);
    if (current !== undefined && adoptable(current)) {
      this.adopt(rec, current, active);
      return;
    }
    const req = rec.req;
    const headers = req.headers;
    // On the active context: an instrumentation's "suppress tracing" mark (its ignore hook) is kept.
    const parent = propagation.extract(active, headers);
    const known = KNOWN_METHODS.has(rec.method);
    const scheme = (req.socket as TLSSocket).encrypted ? 'https' : rec.scheme;
    const conn = rec.conn;
    // Most important first: under a count limit, the SDK keeps the first ones. Those the
    // semantic conventions name for sampling decisions go to startSpan (the sampler sees
    // them); the rest are set on the span right after, which spares them the two copies
    // the SDK makes of start attributes for the sampler (megamorphic stores, ~1k
    // instructions an attribute).
    const attributes: Attributes = {
      'http.request.method': known ? rec.method : '_OTHER',
      'url.path': rec.path,
      'url.scheme': scheme,
      'server.address': conn.serverAddr,
      'server.port': conn.serverPort,
      'client.address': rec.clientAddr,
    };
    const host = headers.host ?? headers[':authority'];
    if (typeof host === 'string' && host !== '') serverFromHost(host, scheme, attributes);
    const url = req.url;
    const q = url === undefined ? -1 : url.indexOf('?');
    if (q >= 0 && q < url!.length - 1) attributes['url.query'] = url!.slice(q + 1).replace(REDACTED_QUERY, '$1$2=REDACTED');
    const userAgent = headers['user-agent'];
    if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
    if (!known) attributes['http.request.method_original'] = rec.method;
    const more: Attributes = {
      'network.protocol.version': req.httpVersion === '2.0' ? '2' : req.httpVersion,
      'pounce.connection_id': conn.id,
      'pounce.worker_id': this.options.workerId,
    };
    // Behind a trusted proxy the client is the forwarded one, whose port pounce does not know.
    if (rec.clientAddr === conn.clientAddr) more['client.port'] = conn.clientPort;
    // The connection's peer, read once at accept (socket.remoteAddress is a getter call per read).
    if (conn.peerAddr !== undefined) {
      more['network.peer.address'] = conn.peerAddr;
      more['network.peer.port'] = conn.peerPort;
    }

    const baseName = known ? rec.method : 'HTTP';
    const room = Math.max(1, this.attributeCountLimit - END_ATTRIBUTES);
    const span = this.tracer.startSpan(baseName, { kind: SpanKind.SERVER, attributes: capped(attributes, room), startTime: rec.startedAt }, parent);
    // Under the default limit (128) there is always room: no key list per request.
    if (span.isRecording()) span.setAttributes(room >= BEGIN_ATTRIBUTES_MAX ? more : capped(more, room - Object.keys(attributes).length));
    if (!this.limitKnown) this.learnLimit(span);
    const meta: RPCMetadata = { type: RPCType.HTTP, span };
    rec.span = { span, context: this.requestContext(parent, span, meta), baseName, own: true, meta } satisfies TracedRequest;
    setIds(rec, span.spanContext());
  }

  /** An instrumentation made this request's SERVER span: decorate it, log its ids, never start a sibling. */
  private adopt(rec: RequestRecord, span: Span, active: Context): void {
    if (span.isRecording()) {
      span.setAttributes({ 'pounce.connection_id': rec.conn.id, 'pounce.worker_id': this.options.workerId });
    }
    // instrumentation-http names the span and sets http.route from the RPC metadata's
    // route when the response closes, just before it ends the span (and before pounce
    // hears of the close): answer from there, and add the app's error while the span is open.
    const meta = getRPCMetadata(active);
    if (meta?.type === RPCType.HTTP && !Object.getOwnPropertyDescriptor(meta, 'route')?.get) {
      let reported = meta.route;
      let errorRecorded = false;
      Object.defineProperty(meta, 'route', {
        configurable: true,
        enumerable: true,
        get: () => {
          if (!errorRecorded && rec.appError !== undefined && span.isRecording()) {
            errorRecorded = true;
            recordError(span, rec.appError, Date.now());
          }
          return detectRoute(rec.req, rec.route ?? reported);
        },
        set: (value: string | undefined) => (reported = value),
      });
    }
    rec.span = { span, context: active, baseName: rec.method, own: false, meta } satisfies TracedRequest;
    setIds(rec, span.spanContext());
  }

  runApp<T>(rec: RequestRecord, run: () => T, request?: object): T {
    const traced = rec.span as TracedRequest | undefined;
    if (!traced?.own) return run();
    if (request !== undefined && traced.context instanceof RequestContextValues) traced.context.request = request;
    return context.with(traced.context, run);
  }

  /** pounce's own span, in pounce's own context type, once carryRequests() is on. */
  carries(rec: RequestRecord): boolean {
    return this.carrying && (rec.span as TracedRequest | undefined)?.own === true;
  }

  /**
   * From now on, the contexts of pounce's spans carry pounce's request context
   * (runApp's `request`, under POUNCE_REQUEST_KEY). Only on the SDK pounce started
   * (its caller's decision): its context manager is the standard AsyncLocalStorage
   * one, which propagates exactly as pounce's own storage does. False when
   * pounce's context type is not in use.
   */
  carryRequests(): boolean {
    this.carrying = this.ownContexts;
    return this.carrying;
  }

  requestSlow(rec: RequestRecord, now: number): void {
    const span = (rec.span as TracedRequest | undefined)?.span;
    if (!span?.isRecording()) return;
    span.addEvent('request.slow', { 'pounce.elapsed_ms': Math.round(now - rec.startedAt), 'pounce.threshold_ms': this.options.thresholdMs }, now);
  }

  responseCompleted(rec: RequestRecord): void {
    this.finish(rec, false);
  }

  clientDisconnected(rec: RequestRecord): void {
    this.finish(rec, true);
  }

  /** The server (timeout, drain, protocol error) or the app cut the request: error.type says why. */
  requestAborted(rec: RequestRecord): void {
    this.finish(rec, true);
  }

  private finish(rec: RequestRecord, disconnected: boolean): void {
    const traced = rec.span as TracedRequest | undefined;
    if (!traced) return;
    rec.span = undefined;
    const span = traced.span;
    // An adopted span is usually ended by its instrumentation already (it listens first).
    if (!span.isRecording()) return;
    const res = rec.res;
    if (disconnected && (rec.endedBy ?? 'client') === 'client') {
      span.addEvent(
        'client.disconnected',
        { 'pounce.during_streaming': rec.headSent, 'pounce.bytes_sent': rec.bytesSent },
        rec.finishedAt,
      );
    }
    if (!traced.own) {
      if (rec.appError !== undefined) recordError(span, rec.appError, rec.finishedAt);
      return;
    }
    if (!disconnected || rec.headSent) span.setAttribute('http.response.status_code', rec.status);
    const err = rec.appError;
    if (err !== undefined) {
      recordError(span, err, rec.finishedAt);
    } else if (disconnected) {
      span.setAttribute('error.type', rec.endCause ?? 'client_disconnect');
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${rec.endedBy ?? 'client'} ended the request before the response was complete` });
    } else if (rec.status >= 500) {
      span.setAttribute('error.type', String(rec.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    const route = detectRoute(rec.req, rec.route ?? traced.meta?.route);
    if (route !== undefined) {
      span.setAttribute('http.route', route);
      span.updateName(`${traced.baseName} ${route}`);
    }
    // Outside the request's context: the batch processor arms its flush timer as a span
    // ends, and the export (its HTTP request, the socket it keeps for the next batches)
    // starts from that timer; made in the request's context they would keep the
    // request (its record, req, res) alive for as long as they live.
    runOutsideRequests(span.end, span, rec.finishedAt);
  }

  /** The context the app runs in: the parent's values, the span, its RPC metadata. */
  private requestContext(parent: Context, span: Span, meta: RPCMetadata): Context {
    return this.ownContexts ? new RequestContextValues(parent, span, meta) : setRPCMetadata(trace.setSpan(parent, span), meta);
  }

  /** The SDK's Span knows its limits (a team's SDK may set them in code, not env). */
  private learnLimit(span: Span): void {
    const limits = (span as { _spanLimits?: { attributeCountLimit?: number } })._spanLimits;
    if (limits === undefined) return;
    this.limitKnown = true;
    if (typeof limits.attributeCountLimit === 'number' && limits.attributeCountLimit > 0) this.attributeCountLimit = limits.attributeCountLimit;
  }
}

/**
 * The active span in pounce's request listener was made for this request by an
 * instrumentation (nothing else is active there). A recording SDK span tells
 * its kind: only a SERVER span is adopted. A non-recording one (not sampled)
 * with valid ids is the instrumentation's too: its ids are the request's.
 */
function adoptable(span: Span): boolean {
  const kind = (span as { kind?: SpanKind }).kind;
  if (kind !== undefined) return kind === SpanKind.SERVER;
  return trace.isSpanContextValid(span.spanContext());
}

/** Under a small attribute count limit, the first `room` of these (room for the attributes set at the end). */
function capped(attributes: Attributes, room: number): Attributes {
  // Under the default limit (128) there is always room: no key list per request.
  if (room >= BEGIN_ATTRIBUTES_MAX) return attributes;
  const keys = Object.keys(attributes);
  if (keys.length <= room) return attributes;
  const out: Attributes = {};
  for (const key of keys.slice(0, Math.max(0, room))) out[key] = attributes[key];
  return out;
}

function setIds(rec: RequestRecord, ids: SpanContext): void {
  if (!trace.isSpanContextValid(ids)) return;
  const flags = ids.traceFlags < 16 ? '0' + ids.traceFlags.toString(16) : ids.traceFlags.toString(16);
  rec.trace = { traceId: ids.traceId, spanId: ids.spanId, traceFlags: flags };
  // Before the app can write its head: the client learns the ids of its request
  // (W3C Trace Context Level 2 `traceresponse`).
  if (!rec.res.headersSent) setTraceResponse(rec.res, `00-${ids.traceId}-${ids.spanId}-${flags}`);
}

/**
 * Where node:http keeps the headers set with setHeader: `{ [lowercase name]: [name, value] }`
 * (null until the first), under a module-private symbol, found on the first
 * response (undefined until then; null: not found, setHeader is used).
 *
 * Not found on an OutgoingMessage made for the purpose as this module loads:
 * one constructed there gives the constructor's property stores a second
 * object shape, and every response of the process then pays for generic
 * stores (valgrind: StoreIC in OutgoingMessage, ~450 instructions a
 * request, logging and tracing off).
 */
let outHeaders: symbol | null | undefined;

function outHeadersOf(res: ServerResponse): symbol | null {
  outHeaders ??= Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders') ?? null;
  return outHeaders;
}

type HeaderStore = Record<string, [string, string]>;

/**
 * `res.setHeader('traceresponse', value)` without node's validation of the name
 * and the value (~3.4k instructions a request under callgrind, ~0.8 µs: regular
 * expressions behind two wrappers), which this header never needs: the name is a constant token, the
 * value hex digits and dashes from a span context isSpanContextValid accepted.
 * It goes where setHeader puts it, so getHeader(), removeHeader() and the
 * written head see it as they would; where that store is not found, setHeader.
 */
export function setTraceResponse(res: ServerResponse, value: string): void {
  const key = outHeadersOf(res);
  const store = key === null ? undefined : (res as unknown as Record<symbol, HeaderStore | null | undefined>)[key];
  if (key === null || store === undefined) {
    res.setHeader('traceresponse', value);
    return;
  }
  const headers = store ?? ((res as unknown as Record<symbol, HeaderStore>)[key] = Object.create(null) as HeaderStore);
  headers.traceresponse = ['traceresponse', value];
}

function recordError(span: Span, err: unknown, at: number): void {
  const exception = err instanceof Error ? err : { name: 'Error', message: String(err) };
  span.recordException(exception, at);
  span.setAttribute('error.type', errorType(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message });
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
