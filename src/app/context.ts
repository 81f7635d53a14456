import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
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
    return this.rec.traceId;
  }
  get spanId(): string | undefined {
    return this.rec.spanId;
  }

  // Created on first use: a pino child costs microseconds, most requests never log.
  get log(): Logger {
    if (!this.logger) {
      const bindings: Record<string, unknown> = { connection_id: this.rec.conn.id };
      if (this.rec.traceId !== undefined) {
        bindings.trace_id = this.rec.traceId;
        bindings.span_id = this.rec.spanId;
        bindings.trace_flags = this.rec.traceFlags;
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

/** The request being served by the calling code, or undefined outside a request. */
export function currentRequest(): RequestInfo | undefined {
  return storage.getStore();
}

/** The app threw or rejected while serving the calling request: keep it on the record for tracing. */
export function noteAppError(err: unknown): void {
  const ctx = storage.getStore();
  if (ctx instanceof RequestContext) ctx.noteError(err);
}

let bindEvents = false;

/**
 * Tracing turns this on: the events of a request that has a body ('data',
 * 'end', ...) then run in the request's context too, so a Node app that reads
 * the body from those listeners (Express body parsing and the routes after it)
 * still sees currentRequest() and the active span. Requests without a body
 * never need it: their handlers run inside the context already. Off, the hot
 * path pays nothing for it.
 */
export function bindRequestEvents(on: boolean): void {
  bindEvents = on;
}

export function runInRequestContext<T>(rec: RequestRecord, workerId: number, appLogger: Logger, run: () => T): T {
  const ctx = new RequestContext(rec, workerId, appLogger);
  if (!bindEvents || !hasBody(rec.req)) return storage.run(ctx, run);
  return storage.run(ctx, () => {
    // Created here, innermost: every context active now (pounce's, OpenTelemetry's) is kept.
    // (Not AsyncResource.bind(): in Node 20 it costs ~18 µs a call; this costs ~0.1 µs.)
    bindEmit(rec.req, new AsyncResource('pounce.request'));
    return run();
  });
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
