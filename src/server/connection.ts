import type { Socket } from 'node:net';
import type { CloseReason, Protocol } from '../lifecycle/events.js';

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
