import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Connection } from './connection.js';

/** The ids of the server span a request runs under (W3C trace context, lower-case hex). */
export interface TraceIds {
  readonly traceId: string;
  readonly spanId: string;
  /** Two hex digits, e.g. `01` for sampled. */
  readonly traceFlags: string;
}

/** Who ended a request that did not get its whole response out. */
export type EndedBy = 'client' | 'server' | 'app';

/**
 * Why a request ended without a complete response:
 * - `client_disconnect`: the client closed or reset the connection;
 * - `request_timeout`, `shutdown_timeout`: the server cut it at a deadline;
 * - `protocol_error`: the rest of the request could not be parsed (a bad chunked body);
 * - `body_too_large`: the body passed maxBodySize after the app was called;
 * - `app_error`: the app destroyed the response or its body stream failed.
 */
export type EndCause = 'client_disconnect' | 'request_timeout' | 'shutdown_timeout' | 'protocol_error' | 'body_too_large' | 'app_error';

/** Where the body-byte meter is in a response's socket writes (see socket-meter.ts). */
export const enum Frame {
  /** No write yet: the head (or a 1xx interim response) comes first. */
  Unstarted,
  /** Plain (Content-Length or close-delimited) body: every byte after the head is body. */
  Plain,
  /** Chunked: next write is a chunk-size line (or the terminator). */
  Size,
  SizeCrlf,
  Data,
  DataCrlf,
}

/** One request's state, shared by every observer (lifecycle log, access log, tracing, metrics). */
export class RequestRecord {
  finishedAt = 0;
  status = 0;
  /** Body bytes of the response that reached the socket (head and chunk framing excluded). */
  bytesSent = 0;
  /** True once the response went out whole; false when it ended any other way. */
  completed = false;
  /** Set when it ended without a complete response. */
  endedBy: EndedBy | undefined = undefined;
  endCause: EndCause | undefined = undefined;
  /** A route template (the app's `currentRequest().setRoute`, or a framework's), for span names. */
  route: string | undefined = undefined;
  /** Ids of the server span, set before any observer hears of the request. */
  trace: TraceIds | undefined = undefined;
  /** Tracing's per-request state (the span); opaque to everything else. */
  span: unknown = undefined;
  /** What the app threw or rejected with, if it did (tracing records it on the span). */
  appError: unknown = undefined;
  /** The client's address: the peer's, or the forwarded one when the peer is a trusted proxy. */
  clientAddr: string;
  /** `http`, or what a trusted proxy says the client used. */
  scheme = 'http';
  /** The socket died with part of this response still unsent (it never reached the client whole). */
  cutShort = false;
  /** Ended: its response finished or its connection closed (a request ends once). */
  ended = false;
  /** Reported as slow already (the sweep reports each request once). */
  slowReported = false;
  /** Body meter state (socket-meter.ts). */
  frame: Frame = Frame.Unstarted;
  headLeft = 0;

  constructor(
    readonly conn: Connection,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly startedAt: number,
    readonly method: string,
    readonly path: string,
    /** Health-path request passed through to the app: logged only if it fails. */
    readonly deferred: boolean,
  ) {
    this.clientAddr = conn.clientAddr;
  }

  get httpVersion(): string {
    return this.req.httpVersion;
  }

  /**
   * The response head reached the socket (the meter saw it go out). Not
   * `res.headersSent`, which is true as soon as the head is rendered: a
   * pipelined response waiting its turn, or a head set but never written,
   * never reached the client.
   */
  get headSent(): boolean {
    return this.frame !== Frame.Unstarted;
  }

  get durationMs(): number {
    return this.finishedAt - this.startedAt;
  }
}
