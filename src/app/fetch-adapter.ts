import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Logger } from 'pino';
import { handleAppError } from './app-error.js';
import { currentRequest, type RequestInfo } from './context.js';
import type { FetchFunction, NodeHandler } from './types.js';

/**
 * Serve a web-standard fetch handler on node:http, on @hono/node-server's
 * request listener (the adapter Hono apps are written and tested against):
 *
 * - The Request is lazy: method and url are plain fields, headers and the
 *   AbortSignal are built only when the app reads them, the body streams in
 *   from the IncomingMessage (backpressure through the web stream's pull) or
 *   is read straight from it by text()/json()/arrayBuffer().
 * - A Response made from a string, a Uint8Array, a Blob or null goes out with
 *   one writeHead + end and a Content-Length; a ReadableStream body streams out,
 *   waiting for 'drain' when the socket is full, and is cancelled when the
 *   client goes away.
 * - Every byte goes through node's `res` (write/end), where pounce counts
 *   `bytes_sent`.
 * - The request's `signal` aborts when the client goes away before the
 *   response is finished.
 *
 * What pounce adds around it:
 * - `fetch(request, env, ctx)`: `env` is `{ incoming, outgoing }` (as
 *   @hono/node-server passes it), `ctx` has waitUntil().
 * - A thrown error, a rejected promise, something other than a Response, or a
 *   response body stream that errors: pounce's bare 500 (or a cut connection
 *   once the head is out) and one error line with the stack and the request's
 *   ids, never @hono/node-server's console output or its `Error: <message>` body.
 * - A response that comes back after pounce itself answered (413 for an
 *   over-limit body) or after the client left is dropped, its body cancelled.
 *
 * Global Request/Response: @hono/node-server by default replaces them with its
 * lightweight subclasses (`overrideGlobalObjects`), and pounce keeps that.
 * `new Response('...')` with Node 20's own Response builds a ReadableStream
 * and a Headers list up front (tens of µs); the lightweight one keeps the
 * string and init until something asks for more, which is what lets a
 * one-chunk response go out with one writeHead + end. Both classes pass
 * `instanceof` for each other and materialize a real Request/Response on any
 * other use, and this is the environment every app run on @hono/node-server
 * (Hono's own recommended Node server) already runs in. The replacement is
 * made only when a fetch app is loaded (node-style apps never see it), once,
 * after the app module was imported. An app that keeps a reference to the
 * original classes (or gets Responses from fetch()) is still served, through
 * the general path.
 */
export function fetchToNode(fetch: FetchFunction, appLogger: Logger): NodeHandler {
  const cacheKey = lightweightCacheKey();

  // Answers written by pounce itself: the listener is told to write nothing more.
  const HANDLED = new Error('handled by pounce');
  const reportError = (err: unknown, res: ServerResponse, request: RequestInfo | undefined): never => {
    handleAppError(err, res, appLogger, request);
    throw HANDLED;
  };

  /** A response that cannot be sent (the head is out already: the app wrote to env.outgoing itself, or pounce answered). */
  const dropped = (response: Response): never => {
    cancelBody(response, cacheKey);
    throw HANDLED;
  };

  /** The response the app gave, checked; `request` is the context read when the call began. */
  const checked = (response: unknown, res: ServerResponse, request: RequestInfo | undefined): Response => {
    if (!(response instanceof Response)) {
      return reportError(notAResponse(response), res, request);
    }
    // pounce answered already (413), or the client is gone: drop this one.
    if (res.headersSent || res.destroyed) return dropped(response);
    if (cacheKey !== undefined) prepare(response, cacheKey, res, appLogger, request);
    return response;
  };

  const executionContext = {
    waitUntil(promise: Promise<unknown>) {
      const request = currentRequest();
      Promise.resolve(promise).catch((err: unknown) => (request?.log ?? appLogger).error({ err }, 'waitUntil promise rejected'));
    },
    passThroughOnException() {},
  };

  const callApp = (request: Request, env: { incoming: unknown; outgoing: unknown }): Response | Promise<Response> => {
    const res = env.outgoing as ServerResponse;
    let result: unknown;
    try {
      result = fetch(request, env, executionContext);
    } catch (err) {
      return reportError(err, res, currentRequest());
    }
    if (result instanceof Response) {
      // The common case (Hono returns synchronously when its handlers do): nothing allocated.
      if (res.headersSent) return dropped(result);
      if (cacheKey !== undefined) prepare(result, cacheKey, res, appLogger, undefined);
      return result;
    }
    // Read now, while the request's context is certainly current: the promise settles later.
    const context = currentRequest();
    if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
      return (result as Promise<unknown>).then(
        (response) => checked(response, res, context),
        (err: unknown) => reportError(err, res, context),
      );
    }
    return reportError(notAResponse(result), res, context);
  };

  const listener = getRequestListener(callApp, {
    overrideGlobalObjects: true,
    errorHandler(err) {
      if (err === HANDLED) return undefined;
      // The request line or Host could not make a URL: the app was never called.
      if (err instanceof RequestError) return plainAnswer(400, 'Bad Request\n');
      // Nothing else gets here (callApp reports the app's errors itself); should it, it is a 500 all the same.
      appLogger.error({ err }, 'Unhandled error in fetch adapter');
      return plainAnswer(500, 'Internal Server Error\n');
    },
  });

  return (req: IncomingMessage, res: ServerResponse) => {
    // HTTP/1.0 may come without a Host (node refuses that only for 1.1): name the address it reached.
    if (req.headers.host === undefined) req.headers.host = hostOf(req);
    const request = currentRequest();
    // What the listener cannot write (a header value node refuses) is the app's error too.
    listener(req, res).catch((err: unknown) => handleAppError(err, res, appLogger, request));
  };
}

function plainAnswer(status: number, body: string): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', connection: 'close' } });
}

function notAResponse(value: unknown): TypeError {
  return new TypeError(`fetch handler returned ${value === null ? 'null' : typeof value}, not a Response`);
}

function hostOf(req: IncomingMessage): string {
  const address = req.socket.localAddress ?? '127.0.0.1';
  return `${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort ?? 80}`;
}

/** [status, body, headers]: how @hono/node-server's lightweight Response keeps what it was made from. */
type LightweightCache = [number, unknown, unknown];

/**
 * The symbol under which @hono/node-server's lightweight Response keeps its
 * body and init (module-private there; found on an instance). undefined if
 * that Response is not the global one or keeps nothing: bodies are then
 * written by the listener unguarded.
 */
function lightweightCacheKey(): symbol | undefined {
  // getRequestListener installs the global classes; make sure they are in before looking.
  getRequestListener(() => undefined, { overrideGlobalObjects: true });
  const probe = new Response(null);
  return Object.getOwnPropertySymbols(probe).find((s) => s.description === 'cache' && Array.isArray((probe as unknown as Record<symbol, unknown>)[s]));
}

function isStream(body: unknown): body is ReadableStream<unknown> {
  return body !== null && typeof body === 'object' && typeof (body as { getReader?: unknown }).getReader === 'function';
}

const DEFAULT_TEXT_TYPE = 'text/plain; charset=UTF-8';
const EMPTY_BODY_HEADERS = Object.freeze({ 'content-length': '0' });

/**
 * Before @hono/node-server writes a lightweight Response (one writeHead + end
 * for a string, bytes, a Blob or null; a pump for a stream), make what it
 * writes say what the Response says:
 * - A string body whose init headers (a plain object) name no Content-Type
 *   is text/plain (the fetch default; the listener would send none).
 * - A Blob body is of the Blob's type when the headers name none (the
 *   listener would send text/plain).
 * - A null body is `Content-Length: 0`, not an empty chunked body (unless the
 *   status has no body at all: 1xx, 204, 304).
 * - A stream body that errors is the app's error (guardBodyStream).
 */
function prepare(response: Response, cacheKey: symbol, res: ServerResponse, appLogger: Logger, request: RequestInfo | undefined): void {
  const cache = (response as unknown as Record<symbol, LightweightCache | undefined>)[cacheKey];
  if (cache === undefined) return;
  // (Indexed, not destructured: destructuring runs the array iterator on every response.)
  const status = cache[0];
  const body = cache[1];
  const headers = cache[2];
  if (typeof body === 'string') {
    if (isPlainHeaders(headers) && !hasKey(headers, 'content-type')) cache[2] = { ...headers, 'content-type': DEFAULT_TEXT_TYPE };
  } else if (body === null) {
    // (Not for HEAD: a null body there stands for the GET's, whose length is unknown here.)
    if (status >= 200 && status !== 204 && status !== 304 && res.req.method !== 'HEAD') {
      if (headers === undefined || headers === null) cache[2] = EMPTY_BODY_HEADERS;
      else if (isPlainHeaders(headers)) {
        if (!hasKey(headers, 'content-length') && !hasKey(headers, 'transfer-encoding')) cache[2] = { ...headers, 'content-length': '0' };
      } else if (headers instanceof Headers && !headers.has('content-length') && !headers.has('transfer-encoding')) headers.set('content-length', '0');
    }
  } else if (body instanceof Blob) {
    if (body.type !== '') {
      if (headers === undefined || headers === null) cache[2] = { 'content-type': body.type };
      else if (isPlainHeaders(headers) && !hasKey(headers, 'content-type')) cache[2] = { ...headers, 'content-type': body.type };
      else if (headers instanceof Headers && !headers.has('content-type')) headers.set('content-type', body.type);
    }
  } else if (isStream(body)) {
    guardBodyStream(cache, body, res, appLogger, request ?? currentRequest());
  }
}

/** Init headers given as a plain object (what Hono passes), not a Headers or an array of pairs. */
function isPlainHeaders(headers: unknown): headers is Record<string, unknown> {
  return headers !== undefined && headers !== null && typeof headers === 'object' && !(headers instanceof Headers) && !Array.isArray(headers);
}

function hasKey(headers: Record<string, unknown>, lowerName: string): boolean {
  for (const key in headers) if (key.length === lowerName.length && key.toLowerCase() === lowerName) return true;
  return false;
}

const NEVER: Promise<never> = new Promise(() => {});

/**
 * A response body stream that errors mid-way is the app's error: report it
 * the pounce way (one error line with the request's ids, the connection cut,
 * since the head is out) and keep the listener out of it (it would print
 * the error to stderr and try to write `Error: <message>` into the body).
 */
function guardBodyStream(cache: LightweightCache, source: ReadableStream<unknown>, res: ServerResponse, appLogger: Logger, context: RequestInfo | undefined): void {
  if (source.locked) return;
  const reader = source.getReader();
  cache[1] = new ReadableStream<unknown>(
    {
      pull(controller) {
        return reader.read().then(
          (chunk) => (chunk.done ? controller.close() : controller.enqueue(chunk.value)),
          (err: unknown): Promise<never> => {
            handleAppError(err, res, appLogger, context);
            // Neither close nor error this stream: either way the listener would end()
            // the destroyed response, which would then pass for finished (complete).
            // The pending read ends when the response's 'close' cancels the stream.
            return NEVER;
          },
        );
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    // No read-ahead: the app's stream is pulled only as the socket takes what it gave.
    { highWaterMark: 0 },
  );
}

function cancelBody(response: Response, cacheKey: symbol | undefined): void {
  const cache = cacheKey === undefined ? undefined : (response as unknown as Record<symbol, LightweightCache | undefined>)[cacheKey];
  const body = cache !== undefined ? cache[1] : response.body;
  if (isStream(body) && !body.locked) body.cancel().catch(() => {});
}
