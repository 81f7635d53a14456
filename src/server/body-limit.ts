import { IncomingMessage, type ServerResponse } from 'node:http';

/**
 * An IncomingMessage that stops reading a body past `maxBodySize`, however it
 * is framed (Content-Length is checked up front; chunked bodies are counted
 * here as the parser pushes them). The over-limit handler answers 413.
 */
export interface LimitedIncomingMessage extends IncomingMessage {
  /** Set by the server as the request arrives: where the 413 goes. */
  response: ServerResponse | undefined;
}

export function limitedIncomingMessage(maxBodySize: number, onTooLarge: (req: LimitedIncomingMessage) => void): typeof IncomingMessage {
  return class extends IncomingMessage implements LimitedIncomingMessage {
    receivedBytes = 0;
    // Declared, not added later: every request keeps one shape.
    response: ServerResponse | undefined = undefined;

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
