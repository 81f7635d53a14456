import type { Socket } from 'node:net';
import type { CloseReason, Protocol } from '../lifecycle/events.js';
import type { RequestRecord } from './request-record.js';

/** What pounce knows about one client connection, from accept to close. */
export class Connection {
  /** Set when ConnectionOpened has been emitted (lazily, at the first logged request). */
  opened = false;
  requestsServed = 0;
  /** Request heads seen (for maxRequestsPerConnection), health checks excluded. */
  requestsStarted = 0;
  bytesSent = 0;
  /** Requests whose head arrived and whose response has not finished. */
  inflight = 0;
  /** A request was cut by the client's close (so the close reason is client_disconnect). */
  lastDisconnected = false;
  /** Requests on the health path, which are invisible to the logs. */
  healthRequests = 0;
  /** Set by the server side when it decides to close (timeout, error, ...). First decision wins. */
  reason: CloseReason | undefined = undefined;
  /** Accepted over maxConnections: every request gets 503. */
  refused = false;
  protocol: Protocol = 'h1';
  readonly clientAddr: string;
  readonly clientPort: number;
  readonly serverAddr: string;
  readonly serverPort: number;
  /**
   * Requests in flight that the slow watch has not reported yet: nearly always
   * one, so it is a field, with an array only for pipelined requests.
   */
  private watched: RequestRecord | undefined = undefined;
  private moreWatched: RequestRecord[] | undefined = undefined;

  constructor(
    readonly id: number,
    readonly acceptedAt: number,
    readonly socket: Socket,
  ) {
    this.clientAddr = unmapIPv4(socket.remoteAddress);
    this.clientPort = socket.remotePort ?? 0;
    this.serverAddr = unmapIPv4(socket.localAddress);
    this.serverPort = socket.localPort ?? 0;
  }

  watch(rec: RequestRecord): void {
    if (this.watched === undefined) this.watched = rec;
    else (this.moreWatched ??= []).push(rec);
  }

  unwatch(rec: RequestRecord): void {
    if (this.watched === rec) {
      this.watched = this.moreWatched?.shift();
    } else if (this.moreWatched) {
      const i = this.moreWatched.indexOf(rec);
      if (i !== -1) this.moreWatched.splice(i, 1);
    }
  }

  /** Watched requests that started at or before `startedBefore`. */
  overdue(startedBefore: number): RequestRecord[] {
    const found: RequestRecord[] = [];
    if (this.watched !== undefined && this.watched.startedAt <= startedBefore) found.push(this.watched);
    if (this.moreWatched) for (const rec of this.moreWatched) if (rec.startedAt <= startedBefore) found.push(rec);
    return found;
  }

  /** Record the server's reason for closing, unless one was already given. */
  closeBecause(reason: CloseReason): void {
    this.reason ??= reason;
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: log the address people recognise. */
function unmapIPv4(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
