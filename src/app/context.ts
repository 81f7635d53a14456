import { AsyncLocalStorage } from 'node:async_hooks';
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

export function runInRequestContext<T>(rec: RequestRecord, workerId: number, appLogger: Logger, run: () => T): T {
  return storage.run(new RequestContext(rec, workerId, appLogger), run);
}
