import { ServerResponse, IncomingMessage } from 'node:http';

type WriteCallback = (error?: Error | null) => void;

/**
 * A ServerResponse that counts the body bytes the app writes, so that
 * `bytes_sent` is exact whatever the framework. Used only when something
 * reads the count (lifecycle or access log, tracing): otherwise the plain
 * ServerResponse is used and nothing is counted.
 */
export class CountingResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {
  bodyBytes = 0;

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
