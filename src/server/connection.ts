import type { Socket } from 'node:net';
import type { CloseReason, Protocol } from '../lifecycle/events.js';
import type { EndCause, EndedBy, RequestRecord } from './request-record.js';
import type { Tracker } from './tracker.js';

/** What pounce knows about one client connection, from accept to close. */
export class Connection {
  /** Set when ConnectionOpened has been emitted (lazily, at the first logged request). */
  opened = false;
  requestsServed = 0;
  /** Request heads seen (for maxRequestsPerConnection), health checks excluded. */
  requestsStarted = 0;
  /** Body bytes of every response on this connection, complete or not. */
  bytesSent = 0;
  /** Requests whose head arrived and whose response has not ended. */
  inflight = 0;
  /** A request was cut by the client's close (so the close reason is client_disconnect). */
  lastDisconnected = false;
  /** Requests on the health path, which are invisible to the logs. */
  healthRequests = 0;
  /** Set by the server side when it decides to close (timeout, error, ...). First decision wins. */
  reason: CloseReason | undefined = undefined;
  /** Accepted over maxConnections: answered 503 at once and closed. */
  refused = false;
  protocol: Protocol = 'h1';
  /**
   * How the socket was destroyed, read at the destroy call (socket-meter.ts):
   * who did it, and the bytes the socket still held, which never reached the client.
   */
  destroyedBy: EndedBy | undefined = undefined;
  destroyCause: EndCause | undefined = undefined;
  readonly clientAddr: string;
  readonly clientPort: number;
  /** The socket's peer as node reports it (clientAddr is the same with IPv4-mapped IPv6 unmapped): network.peer.* of spans. */
  readonly peerAddr: string | undefined;
  readonly peerPort: number | undefined;
  readonly serverAddr: string;
  readonly serverPort: number;
  /**
   * Requests in flight, oldest first: nearly always one, so it is a field,
   * with an array only for pipelined requests. node:http writes responses in
   * request order, so the first is the one whose bytes are on the socket.
   */
  first: RequestRecord | undefined = undefined;
  /** Log lines' runs of fields this connection's requests repeat (observability/event-line.ts repeatedOn). */
  readonly memos: unknown[] = [];
  private more: RequestRecord[] | undefined = undefined;

  constructor(
    readonly id: number,
    readonly acceptedAt: number,
    readonly socket: Socket,
    /** The tracker that follows it (told when one of its responses finishes). */
    readonly tracker: Tracker,
  ) {
    this.peerAddr = socket.remoteAddress;
    this.peerPort = socket.remotePort;
    this.clientAddr = unmapIPv4(this.peerAddr);
    this.clientPort = this.peerPort ?? 0;
    this.serverAddr = unmapIPv4(socket.localAddress);
    this.serverPort = socket.localPort ?? 0;
  }

  add(rec: RequestRecord): void {
    this.inflight++;
    if (this.first === undefined) this.first = rec;
    else (this.more ??= []).push(rec);
  }

  remove(rec: RequestRecord): void {
    this.inflight--;
    if (this.first === rec) {
      this.first = this.more?.shift();
    } else if (this.more) {
      const i = this.more.indexOf(rec);
      if (i !== -1) this.more.splice(i, 1);
    }
  }

  /** The in-flight record of a response or request object. */
  find(resOrReq: object): RequestRecord | undefined {
    const first = this.first;
    if (first === undefined) return undefined;
    if (first.res === resOrReq || first.req === resOrReq) return first;
    if (this.more) for (const rec of this.more) if (rec.res === resOrReq || rec.req === resOrReq) return rec;
    return undefined;
  }

  /** Every in-flight record (for the sweep and the drain; rarely more than one). */
  inflightRecords(): RequestRecord[] {
    if (this.first === undefined) return [];
    return this.more ? [this.first, ...this.more] : [this.first];
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
