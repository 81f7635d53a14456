import { IncomingMessage } from 'node:http';

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  readonly status = 413;
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

/**
 * An IncomingMessage that stops reading a body past `maxBodySize`, however it
 * is framed (Content-Length is checked up front; chunked bodies are counted
 * here as the parser pushes them). The over-limit handler answers 413.
 */
export function limitedIncomingMessage(maxBodySize: number, onTooLarge: (req: IncomingMessage) => void): typeof IncomingMessage {
  return class LimitedIncomingMessage extends IncomingMessage {
    receivedBytes = 0;

    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk !== null && ArrayBuffer.isView(chunk)) {
        const before = this.receivedBytes;
        this.receivedBytes += chunk.byteLength;
        if (this.receivedBytes > maxBodySize) {
          // Report once; keep reading and discarding so the 413 is not lost to a reset.
          if (before <= maxBodySize) onTooLarge(this);
          return true;
        }
      }
      return super.push(chunk, encoding);
    }
  };
}
