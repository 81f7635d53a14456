import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Connection } from './connection.js';

/** One request's state, shared by the lifecycle log, access log and tracing. */
export class RequestRecord {
  finishedAt = 0;
  status = 0;
  /** A route template the app reported (`currentRequest().setRoute`), for span names. */
  route: string | undefined = undefined;
  /** Ids of pounce's own server span, when tracing is on. */
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  traceFlags: string | undefined = undefined;
  /** Tracing's per-request state (the span); opaque to everything else. */
  span: unknown = undefined;
  /** What the app threw or rejected with, if it did (tracing records it on the span). */
  appError: unknown = undefined;

  constructor(
    readonly conn: Connection,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly startedAt: number,
    readonly method: string,
    readonly path: string,
    /** Health-path request passed through to the app: logged only if it fails. */
    readonly deferred: boolean,
  ) {}

  get httpVersion(): string {
    return this.req.httpVersion;
  }

  get durationMs(): number {
    return this.finishedAt - this.startedAt;
  }
}
