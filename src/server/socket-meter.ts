// The module's binding, not the global: on Node 20 the global `Buffer` is an accessor, run on every read.
import { Buffer } from 'node:buffer';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Connection } from './connection.js';
import { Frame, type RequestRecord } from './request-record.js';

/**
 * Body bytes and endings, observed on the socket.
 *
 * Frameworks replace the prototype of the `req`/`res` they are given (Express
 * does, on every request), so nothing pounce needs may live in a subclass or
 * a prototype override of those. The socket is pounce's: node:http writes
 * every byte of a response through `socket.write`, and every way a socket
 * dies goes through `socket.destroy`. Both are wrapped once per connection,
 * as own properties of that socket (a per-connection cost, not per request).
 *
 * Which response a write belongs to is `socket._httpMessage` (node:http
 * writes one response at a time, in request order). Its head is a latin1
 * string (`res._header`) that node:http either writes alone or glues in front
 * of the first string it writes; chunked bodies are written as size line,
 * CRLF, data, CRLF (one `socket.write` each) and a terminator. The meter
 * follows that framing to count body bytes only.
 */

type NodeSocket = Socket & {
  _httpMessage?: (ServerResponse & { _header?: string | null; chunkedEncoding?: boolean; _contentLength?: number | null }) | null;
  _handle?: { writeQueueSize?: number } | null;
  _writableState?: { writing?: boolean; writelen?: number };
};

const CLIENT_GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

export function meterSocket(socket: Socket, conn: Connection, onDestroy?: (conn: Connection) => void): void {
  const s = socket as NodeSocket;
  const write = s.write;
  const destroy = s.destroy;
  s.write = function meteredWrite(this: NodeSocket, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const res = this._httpMessage;
    if (res != null && conn.first !== undefined) {
      const rec = conn.first.res === res ? conn.first : conn.find(res);
      if (rec !== undefined) countWrite(rec, res, chunk, encoding);
    }
    return (write as (c: unknown, e?: unknown, cb?: unknown) => boolean).call(this, chunk, encoding, callback);
  } as Socket['write'];
  s.destroy = function meteredDestroy(this: NodeSocket, error?: Error) {
    if (conn.destroyedBy === undefined && !this.destroyed) {
      noteDestroy(this, conn, error);
      onDestroy?.(conn);
    }
    return destroy.call(this, error);
  };
}

/** Count the body bytes in one socket write of `rec`'s response. */
function countWrite(rec: RequestRecord, res: NonNullable<NodeSocket['_httpMessage']>, chunk: unknown, encoding: unknown): void {
  if (rec.frame === Frame.Unstarted) {
    const head = res._header;
    // No head stored yet: an interim response (100 Continue, 103 Early Hints).
    if (typeof head !== 'string') return;
    rec.headLeft = head.length;
    rec.frame = res.chunkedEncoding === true ? Frame.Size : Frame.Plain;
  }
  let text: string | undefined;
  /** Characters of `text` that are the head's (not body bytes). */
  let headChars = 0;
  let bytes: number;
  if (typeof chunk === 'string') {
    text = chunk;
    if (rec.headLeft > 0) {
      headChars = Math.min(rec.headLeft, text.length);
      rec.headLeft -= headChars;
      if (headChars === text.length) return;
    }
    bytes = -1;
  } else if (ArrayBuffer.isView(chunk)) {
    bytes = chunk.byteLength;
  } else {
    return;
  }
  switch (rec.frame) {
    case Frame.Plain:
      rec.bytesSent += bytes >= 0 ? bytes : stringBodyBytes(text!, headChars, encoding, res._contentLength);
      return;
    case Frame.Size:
      // A size line, or the terminator ("0\r\n" + trailers + "\r\n"), which stays in this state.
      if (text === undefined || !text.startsWith('0\r\n', headChars)) rec.frame = Frame.SizeCrlf;
      return;
    case Frame.SizeCrlf:
      rec.frame = Frame.Data;
      return;
    case Frame.Data:
      rec.bytesSent += bytes >= 0 ? bytes : stringBodyBytes(text!, headChars, encoding, undefined);
      rec.frame = Frame.DataCrlf;
      return;
    case Frame.DataCrlf:
      rec.frame = Frame.Size;
      return;
  }
}

/**
 * The bytes `text` puts on the wire after its first `headChars` characters
 * (node:http glues the head, latin1, in front of a response's first string).
 *
 * A body given whole to `res.end()` (how nearly every framework answers) was
 * measured by node:http already: it is the response's Content-Length
 * (`_contentLength`). When that equals the body's character count, every
 * character is one byte and measuring again is waste (~500 instructions and
 * a call into C++ per response, valgrind). A body with multi-byte
 * characters, or a first write shorter than a declared Content-Length, is
 * measured. (An app that declares a multi-byte body's character count as
 * its length sends a broken response; its count follows the declaration.)
 *
 * Otherwise the whole string is measured, not a slice of it: socket.write
 * flattens it next anyway, and a slice takes byteLength's slow path
 * (valgrind: ~1.6k instructions a response more). When every character is
 * one byte, so is every character of the head.
 */
function stringBodyBytes(text: string, headChars: number, encoding: unknown, contentLength: number | null | undefined): number {
  if (typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8') {
    return Buffer.byteLength(headChars > 0 ? text.slice(headChars) : text, encoding as BufferEncoding);
  }
  if (contentLength === text.length - headChars) return contentLength;
  const whole = Buffer.byteLength(text);
  if (headChars === 0) return whole;
  if (whole === text.length) return whole - headChars;
  return Buffer.byteLength(text.slice(headChars));
}

/**
 * The socket is being destroyed: say who did it, and take back from the
 * response being written the bytes that never left the process (still in the
 * socket's buffer or libuv's queue). node:http still emits 'finish' for such
 * a response (its write callback runs with the error), so without this a
 * reset during a large one-piece body would pass for a complete response.
 */
function noteDestroy(socket: NodeSocket, conn: Connection, error: Error | undefined): void {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (conn.reason !== undefined && conn.reason !== 'complete' && conn.reason !== 'client_disconnect') {
    conn.destroyedBy = 'server';
    conn.destroyCause =
      conn.reason === 'timeout' ? 'request_timeout' : conn.reason === 'shutdown' ? 'shutdown_timeout' : conn.reason === 'error' ? 'protocol_error' : 'request_timeout';
  } else if ((code !== undefined && CLIENT_GONE_CODES.has(code)) || socket.readableEnded) {
    conn.destroyedBy = 'client';
    conn.destroyCause = 'client_disconnect';
  } else {
    conn.destroyedBy = 'app';
    conn.destroyCause = 'app_error';
  }
  const rec = conn.first;
  if (rec === undefined) return;
  const state = socket._writableState;
  let pending = socket.writableLength;
  // The write libuv is working on counts whole in writableLength; only its unwritten tail is pending.
  if (state?.writing && typeof state.writelen === 'number') pending = pending - state.writelen + (socket._handle?.writeQueueSize ?? state.writelen);
  if (pending > 0) {
    rec.bytesSent = Math.max(0, rec.bytesSent - pending);
    rec.cutShort = true;
  }
}
