import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { handleAppError } from './app-error.js';
import { currentRequest } from './context.js';
import type { FetchFunction, NodeHandler } from './types.js';

/**
 * Serve a web-standard fetch handler on node:http.
 *
 * - The request body streams in (backpressure through the web stream's pull).
 * - The response body streams out, waiting for 'drain' when the socket is full.
 * - The request's AbortSignal fires when the client goes away, and the
 *   response body stream is cancelled, so the app stops producing.
 * - A thrown error or rejected promise becomes a 500 and an error line.
 *
 * The handler is called as `fetch(request, env, ctx)` the way Hono and
 * @hono/node-server call it: `env` holds `{ incoming, outgoing }` (the node
 * objects, for helpers such as getConnInfo), `ctx` has waitUntil().
 */
export function fetchToNode(fetch: FetchFunction, appLogger: Logger): NodeHandler {
  return (req, res) => {
    // Read now, while the request's context is certainly current: errors are reported from callbacks.
    const ctx = currentRequest();
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client disconnected'));
    });
    let request: Request;
    try {
      request = toRequest(req, controller.signal);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('Bad Request\n');
      return;
    }
    let result: Response | Promise<Response>;
    try {
      result = fetch(request, { incoming: req, outgoing: res }, executionContext(appLogger));
    } catch (err) {
      handleAppError(err, res, appLogger, ctx);
      return;
    }
    if (result instanceof Response) {
      writeResponse(result, res).catch((err: unknown) => handleAppError(err, res, appLogger, ctx));
    } else {
      Promise.resolve(result).then(
        (response) => writeResponse(response, res),
        (err: unknown) => handleAppError(err, res, appLogger, ctx),
      ).catch((err: unknown) => handleAppError(err, res, appLogger, ctx));
    }
  };
}

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

const BODYLESS_METHODS = new Set(['GET', 'HEAD']);

export function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) !== 58 /* ':' HTTP/2 pseudo-header */) headers.append(name, raw[i + 1]!);
  }
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const host = req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`;
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (!BODYLESS_METHODS.has(method)) {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new Request(`${scheme}://${host}${req.url ?? '/'}`, init);
}

function executionContext(appLogger: Logger) {
  return {
    waitUntil(promise: Promise<unknown>) {
      promise.catch((err: unknown) => appLogger.error({ err }, 'waitUntil promise rejected'));
    },
    passThroughOnException() {},
  };
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  if (!(response instanceof Response)) {
    throw new TypeError(`fetch handler returned ${response === null ? 'null' : typeof response}, not a Response`);
  }
  if (res.destroyed) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);

  const body = response.body;
  if (body === null) {
    res.end();
    return;
  }
  const reader = body.getReader();
  const first = await reader.read();
  if (first.done) {
    res.end();
    return;
  }
  // A body made from a string or buffer is one chunk and then done, which a
  // closed stream reports within a few microtasks: send it with a
  // Content-Length. Anything still pending is a real stream: send it as it comes.
  const second = reader.read();
  let settled: ReadResult | undefined;
  void second.then((r) => (settled = r), () => {});
  for (let i = 0; i < 3 && settled === undefined; i++) await null;
  if (settled?.done) {
    if (!res.hasHeader('content-length')) res.setHeader('content-length', first.value.byteLength);
    res.end(first.value);
    return;
  }
  if (res.destroyed) return void reader.cancel().catch(() => {});
  res.flushHeaders();
  let chunk: ReadResult = first;
  let next: Promise<ReadResult> = second;
  const onClose = () => void reader.cancel().catch(() => {});
  res.once('close', onClose);
  try {
    while (!chunk.done) {
      if (!res.write(chunk.value)) await drained(res);
      if (res.destroyed) return;
      chunk = await next;
      if (!chunk.done) next = reader.read();
    }
    res.end();
  } finally {
    res.off('close', onClose);
  }
}

/** Resolves when the socket can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
