import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { currentRequest, noteAppError, type RequestInfo } from './context.js';

/** Headers pounce sets itself (tracing); they stay on the 500 that replaces the app's response. */
const POUNCE_HEADERS = new Set(['traceresponse']);

/**
 * The app threw or rejected. The client gets a bare 500 (no stack, no
 * message); the log gets the error with its stack, bound to the request ids.
 * If the response had already started, the connection is cut: a truncated
 * body must not look complete.
 */
export function handleAppError(
  err: unknown,
  res: ServerResponse,
  appLogger: Logger,
  request: RequestInfo | undefined = currentRequest(),
): void {
  const log = request?.log ?? appLogger;
  log.error({ err }, 'Unhandled error in app');
  noteAppError(err, request);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.writableEnded) return;
  const body = 'Internal Server Error\n';
  // Drop whatever the app set: its headers described a response that never happened.
  // pounce's trace headers stay: a failed request is the one worth finding.
  for (const name of res.getHeaderNames()) if (!POUNCE_HEADERS.has(name)) res.removeHeader(name);
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
