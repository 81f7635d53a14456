import { IncomingMessage } from 'node:http';
import { rawHeader } from './raw-headers.js';

/**
 * maxBodySize for bodies without Content-Length (chunked): counted as the
 * parser pushes them. A Content-Length body is checked before the app runs.
 *
 * The counting `push` is an own property of the request (node:http's parser
 * calls `req.push(chunk)`): frameworks that replace the request's prototype
 * (Express) keep own properties, so the limit holds whatever the app does.
 * Only requests with a chunked body get it.
 */
const kReceived = Symbol('pounce.bodyReceived');
type CountedRequest = IncomingMessage & { [kReceived]?: number };

const push = IncomingMessage.prototype.push;

export function limitBody(req: IncomingMessage, maxBodySize: number, onTooLarge: (req: IncomingMessage) => void): void {
  const counted = req as CountedRequest;
  counted[kReceived] = 0;
  counted.push = function limitedPush(this: CountedRequest, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && ArrayBuffer.isView(chunk)) {
      const before = this[kReceived] ?? 0;
      const after = before + chunk.byteLength;
      this[kReceived] = after;
      if (after > maxBodySize) {
        // Report once; keep reading and discarding so the 413 is not lost to a reset.
        if (before <= maxBodySize) onTooLarge(this);
        return true;
      }
    }
    return push.call(this, chunk, encoding);
  };
}

/** A request whose body is framed without a length up front (chunked). */
export function hasUnsizedBody(req: IncomingMessage, contentLength: string | undefined): boolean {
  return contentLength === undefined && rawHeader(req, 'transfer-encoding') !== undefined;
}
