import { ServerResponse, IncomingMessage } from 'node:http';
import type { RequestRecord } from './request-record.js';

type WriteCallback = (error?: Error | null) => void;

/**
 * Set (to true) on a node:http Server whose drain has begun: from then on
 * every response whose head is not yet sent is its connection's last
 * (`Connection: close`), including responses already in flight when the
 * drain started, not only requests that arrive during it.
 */
export const kDraining = Symbol('pounce.draining');

type DrainFlagged = { server?: { [kDraining]?: boolean } } | null | undefined;

/**
 * A ServerResponse that counts the body bytes the app writes, so that
 * `bytes_sent` is exact whatever the framework. Used only when something
 * reads the count (lifecycle or access log, tracing): otherwise the plain
 * ServerResponse is used and nothing is counted.
 */
export class CountingResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {
  bodyBytes = 0;
  /** The tracker's record of this response's request (declared here: every response keeps one shape). */
  record: RequestRecord | undefined = undefined;

  // Every head goes through writeHead (node's implicit header calls it too).
  override writeHead(statusCode: number, reasonOrHeaders?: unknown, headers?: unknown): this {
    if (!this.headersSent && (this.req?.socket as DrainFlagged)?.server?.[kDraining]) this.shouldKeepAlive = false;
    return (super.writeHead as (status: number, a?: unknown, b?: unknown) => this)(statusCode, reasonOrHeaders, headers);
  }

  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    this.count(chunk, encoding);
    return super.write(chunk, encoding as BufferEncoding, callback);
  }

  override end(chunk?: unknown, encoding?: BufferEncoding | WriteCallback | (() => void), callback?: () => void): this {
    if (typeof chunk !== 'function' && !this.writableEnded) this.count(chunk, encoding);
    return super.end(chunk as string, encoding as BufferEncoding, callback);
  }

  private count(chunk: unknown, encoding: unknown): void {
    // HEAD, 204 and 304 responses have no body: node:http drops what is written.
    if (chunk == null || (this as unknown as { _hasBody: boolean })._hasBody === false) return;
    if (typeof chunk === 'string') {
      this.bodyBytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    } else if (ArrayBuffer.isView(chunk)) {
      this.bodyBytes += chunk.byteLength;
    }
  }
}
