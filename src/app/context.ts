import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RequestRecord } from '../server/request-record.js';

/** What the app can learn about the request it is serving. */
export interface RequestInfo {
  readonly connectionId: number;
  readonly workerId: number;
  /** pounce's server span ids, when tracing is on. */
  readonly traceId: string | undefined;
  readonly spanId: string | undefined;
  /** A logger bound to the ids above: the app's lines join the lifecycle trail. */
  readonly log: Logger;
  /** Tell pounce the matched route template (e.g. `/users/:id`) for span names. */
  setRoute(route: string): void;
}

class RequestContext implements RequestInfo {
  private logger: Logger | undefined;

  constructor(
    private readonly rec: RequestRecord,
    readonly workerId: number,
    private readonly appLogger: Logger,
  ) {}

  get connectionId(): number {
    return this.rec.conn.id;
  }
  get traceId(): string | undefined {
    return this.rec.trace?.traceId;
  }
  get spanId(): string | undefined {
    return this.rec.trace?.spanId;
  }

  // Created on first use: a pino child costs microseconds, most requests never log.
  get log(): Logger {
    if (!this.logger) {
      const bindings: Record<string, unknown> = { connection_id: this.rec.conn.id };
      const trace = this.rec.trace;
      if (trace !== undefined) {
        bindings.trace_id = trace.traceId;
        bindings.span_id = trace.spanId;
        bindings.trace_flags = trace.traceFlags;
      }
      this.logger = this.appLogger.child(bindings);
    }
    return this.logger;
  }

  setRoute(route: string): void {
    this.rec.route = route;
  }

  /** Internal (not on RequestInfo): the app failed this request. The first error wins. */
  noteError(err: unknown): void {
    this.rec.appError ??= err;
  }
}

const storage = new AsyncLocalStorage<RequestInfo>();

/**
 * Whether requests run inside the AsyncLocalStorage. In Node 20 an active
 * AsyncLocalStorage installs async hooks that every promise, tick and socket
 * write of the process then pays for (measured: ~1.7 µs of a 30 µs hello-world
 * request, before the app awaits anything). So it is on only when something
 * can read it: an app that imports pounce's API (the `pounce` entry point, the
 * only way to reach currentRequest(), arms it as it loads, before the first
 * request) and tracing. Otherwise the context of the running handler is kept
 * in a variable for the synchronous part of the call, which is all pounce's
 * own error reporting needs.
 */
let armed = false;
let syncContext: RequestContext | undefined;

/** Run every request from now on inside the AsyncLocalStorage (idempotent). */
export function armRequestContext(): void {
  armed = true;
}

/** Whether the app can read the request context (so every request must have one). */
export function requestContextArmed(): boolean {
  return armed;
}

/**
 * The request being served by the calling code, or undefined outside a request.
 * (While the storage is off, only during the handler's synchronous call: pounce's
 * own code that reports later, from a rejected promise, reads it first.)
 */
export function currentRequest(): RequestInfo | undefined {
  if (!armed) return syncContext;
  return (carried === undefined ? undefined : carried()) ?? storage.getStore();
}

/**
 * How tracing carries requests in OpenTelemetry's context (set when it does): the
 * request in the active context, if any.
 */
let carried: (() => RequestInfo | undefined) | undefined;

/**
 * Tracing on the SDK pounce started carries each request in the span's context:
 * the app's code then runs in one AsyncLocalStorage (OpenTelemetry's) instead of
 * two. In Node 20 every live storage costs each async resource of the process
 * (every tick, timer, promise and write) a copy of its store: ~3.5k instructions
 * per traced hello-world request for the second one (callgrind).
 */
export function carryRequestsIn(read: () => RequestInfo | undefined): void {
  carried = read;
}

/** What tracing needs to carry a request in its context (server/observer.ts RequestTracing). */
interface Carrier {
  /** Whether `rec`'s context can carry the request (pounce's own span, pounce's SDK). */
  carries(rec: RequestRecord): boolean;
  runApp<T>(rec: RequestRecord, run: () => T, request?: RequestInfo): T;
}

/**
 * Call the app for a traced request: the request's span active, and the request
 * itself in the same context when tracing carries it (otherwise in pounce's own
 * storage, as runInRequestContext).
 */
export function runTracedRequest<T>(rec: RequestRecord, workerId: number, appLogger: Logger, tracing: Carrier, run: () => T): T {
  if (!tracing.carries(rec)) return tracing.runApp(rec, () => runInRequestContext(rec, workerId, appLogger, run));
  const ctx = new RequestContext(rec, workerId, appLogger);
  if (!hasBody(rec.req)) return tracing.runApp(rec, run, ctx);
  return tracing.runApp(
    rec,
    () => {
      bindEmit(rec.req, new AsyncResource('pounce.request'));
      return run();
    },
    ctx,
  );
}

/** The app threw or rejected while serving `request`: keep it on the record for tracing. */
export function noteAppError(err: unknown, request: RequestInfo | undefined = currentRequest()): void {
  if (request instanceof RequestContext) request.noteError(err);
}

export function runInRequestContext<T>(rec: RequestRecord, workerId: number, appLogger: Logger, run: () => T): T {
  const ctx = new RequestContext(rec, workerId, appLogger);
  if (!armed) return runUnarmed(ctx, run, rec.req, rec.res);
  if (!hasBody(rec.req)) return storage.run(ctx, run);
  // The body's events ('data', 'end', ...) come from the socket, outside this call: bind
  // them to the request, so a Node app that reads the body in listeners (Express body
  // parsing and the routes after it) still sees currentRequest() and the active span.
  return storage.run(ctx, () => {
    // Created here, innermost: every context active now (pounce's, OpenTelemetry's) is kept.
    // (Not AsyncResource.bind(): in Node 20 it costs ~18 µs a call; this costs ~0.1 µs.)
    bindEmit(rec.req, new AsyncResource('pounce.request'));
    return run();
  });
}

/**
 * runInRequestContext for the common case, a (req, res) handler with nothing
 * wrapping it: the handler and its arguments go straight to the storage, no
 * closure is made per request.
 */
export function serveInRequestContext(
  rec: RequestRecord,
  workerId: number,
  appLogger: Logger,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  if (!armed) {
    runUnarmed(new RequestContext(rec, workerId, appLogger), handler, req, res);
    return;
  }
  if (hasBody(req)) {
    runInRequestContext(rec, workerId, appLogger, () => handler(req, res));
    return;
  }
  storage.run(new RequestContext(rec, workerId, appLogger), handler, req, res);
}

/** Call `fn(req, res)` with `ctx` as the current request for the synchronous call (no closure needed). */
function runUnarmed<T>(ctx: RequestContext, fn: (req: IncomingMessage, res: ServerResponse) => T, req: IncomingMessage, res: ServerResponse): T {
  const previous = syncContext;
  syncContext = ctx;
  try {
    return fn(req, res);
  } finally {
    syncContext = previous;
  }
}

/**
 * Where a connection's own timers are made: a scope created as this module
 * loads, outside any request, so it carries no AsyncLocalStorage store.
 */
const outsideRequests = new AsyncResource('pounce.connection');
const socketSetTimeout = Socket.prototype.setTimeout;

function setTimeoutOutsideRequests(this: Socket, msecs: number, callback?: () => void): Socket {
  // Clearing (node:http does at each request head) makes no timer.
  if (msecs === 0) return socketSetTimeout.call(this, msecs, callback);
  return outsideRequests.runInAsyncScope(socketSetTimeout, this, msecs, callback);
}

/**
 * Call `fn` outside any request's async context: what it starts (timers, sockets)
 * keeps no request alive. (A scope made once, not per call: ~0.05 µs a call.)
 */
export function runOutsideRequests<A extends unknown[], R>(fn: (...args: A) => R, thisArg: unknown, ...args: A): R {
  return outsideRequests.runInAsyncScope(fn, thisArg, ...args);
}

/**
 * node:http arms a keep-alive connection's idle timer (`socket.setTimeout`) when a
 * response finishes, inside that request's async context. With an
 * AsyncLocalStorage on, the timer's async resource then keeps the request's
 * stores (pounce's context with the record, req and res; OpenTelemetry's with the
 * span) until the connection's next request: every scavenge in between copies
 * them, and the second promotes them. On a connection of a server whose requests
 * run in a storage, the socket's timers are made outside any request instead
 * (they belong to the connection; the timeout and its 'timeout' event are the
 * same). Nothing changes while no storage is on.
 */
export function keepTimersOutOfRequests(socket: Socket): void {
  if (armed) socket.setTimeout = setTimeoutOutsideRequests;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function bindEmit(emitter: EventEmitter, scope: AsyncResource): void {
  const emit = emitter.emit;
  emitter.emit = function (this: EventEmitter, event: string | symbol, ...args: unknown[]): boolean {
    return scope.runInAsyncScope(emit, this, event, ...args);
  };
}
