import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** OTLP span kinds as numbers (the JSON encoding sends the enum's number). */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
export const STATUS_CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

export interface ReceivedEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
}

/** One span as the collector would see it, decoded from OTLP/HTTP JSON. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  events: ReceivedEvent[];
  status: { code: number; message: string };
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
}

export interface ReceiverOptions {
  /** Answer every export with this status (default 200). */
  status?: number;
  /** Wait this long before answering (a slow collector). */
  delayMs?: number;
  /** Answer the first N exports 503 with Retry-After: 0 (a collector that is briefly overloaded). */
  failFirst?: number;
}

/**
 * A stand-in OpenTelemetry Collector: OTLP/HTTP JSON on 127.0.0.1, POST
 * /v1/traces. It keeps every span it receives, decoded, in arrival order.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Export requests received (POST /v1/traces). */
  exports = 0;
  /** Requests that were not a valid OTLP/JSON traces export (wrong path, type or body). */
  readonly rejected: string[] = [];
  /** Headers of every export request, in order (including refused ones). */
  readonly requestHeaders: Array<Record<string, string | string[] | undefined>> = [];
  /** Exports answered 503 because of `failFirst`. */
  refused = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly server: Server,
    readonly options: ReceiverOptions,
  ) {}

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Base endpoint, as given to --otel-endpoint (spans go to <url>/v1/traces). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves with the received spans once pred holds (checked on every export). */
  async waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs = 10_000, what = 'spans'): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.spans)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; have ${this.spans.length} span(s): ${JSON.stringify(this.spans.map((s) => s.name))}; rejected: ${JSON.stringify(this.rejected)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.spans;
  }

  /** Spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  handle(req: IncomingMessage, body: Buffer): { status: number; body: string; headers?: Record<string, string> } {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      this.rejected.push(`${req.method} ${req.url}`);
      return { status: 404, body: '{}' };
    }
    this.requestHeaders.push({ ...req.headers });
    if (this.refused < (this.options.failFirst ?? 0)) {
      this.refused++;
      return { status: 503, body: '{}', headers: { 'retry-after': '0' } };
    }
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) {
      this.rejected.push(`content-type ${type}`);
      return { status: 415, body: '{}' };
    }
    let payload: unknown;
    try {
      const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
      payload = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      this.rejected.push(`bad body: ${(err as Error).message}`);
      return { status: 400, body: '{}' };
    }
    this.exports++;
    for (const span of decodeExport(payload)) this.spans.push(span); // not push(...): a batch has no fixed bound
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    return { status: this.options.status ?? 200, body: '{}' };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export async function startOtlpReceiver(options: ReceiverOptions = {}): Promise<OtlpReceiver> {
  let receiver: OtlpReceiver | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = receiver!.handle(req, Buffer.concat(chunks));
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body);
      };
      if (options.delayMs) setTimeout(send, options.delayMs);
      else send();
    });
  });
  receiver = new OtlpReceiver(server, options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return receiver;
}

/** A port on 127.0.0.1 that nothing listens on (a collector that is down). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// --- OTLP/JSON decoding -------------------------------------------------------

type Json = Record<string, any>;

export function decodeExport(payload: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of ((payload as Json)?.resourceSpans ?? []) as Json[]) {
    const resource = decodeAttributes(rs.resource?.attributes);
    for (const ss of (rs.scopeSpans ?? []) as Json[]) {
      const scope = { name: String(ss.scope?.name ?? ''), version: String(ss.scope?.version ?? '') };
      for (const s of (ss.spans ?? []) as Json[]) {
        out.push({
          traceId: decodeId(s.traceId),
          spanId: decodeId(s.spanId),
          parentSpanId: decodeId(s.parentSpanId),
          traceState: String(s.traceState ?? ''),
          name: String(s.name),
          kind: decodeEnum(s.kind, 'SPAN_KIND_', SPAN_KIND),
          startTimeUnixNano: BigInt(s.startTimeUnixNano ?? 0),
          endTimeUnixNano: BigInt(s.endTimeUnixNano ?? 0),
          attributes: decodeAttributes(s.attributes),
          events: ((s.events ?? []) as Json[]).map((e) => ({
            name: String(e.name),
            timeUnixNano: BigInt(e.timeUnixNano ?? 0),
            attributes: decodeAttributes(e.attributes),
          })),
          status: {
            code: decodeEnum(s.status?.code ?? 0, 'STATUS_CODE_', STATUS_CODE),
            message: String(s.status?.message ?? ''),
          },
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

/** OTLP/JSON carries ids as hex; accept base64 too (the protobuf JSON mapping some SDKs use). */
function decodeId(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  if (/^[0-9a-f]+$/i.test(value) && (value.length === 32 || value.length === 16)) return value.toLowerCase();
  return Buffer.from(value, 'base64').toString('hex');
}

function decodeEnum(value: unknown, prefix: string, names: Record<string, number>): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.startsWith(prefix)) return names[value.slice(prefix.length)] ?? -1;
  return Number(value);
}

function decodeAttributes(list: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of (list ?? []) as Json[]) out[String(kv.key)] = decodeValue(kv.value);
  return out;
}

function decodeValue(v: Json | undefined): AttributeValue {
  if (!v) return null;
  if ('stringValue' in v) return String(v.stringValue);
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('arrayValue' in v) return ((v.arrayValue?.values ?? []) as Json[]).map(decodeValue);
  if ('kvlistValue' in v) return decodeAttributes(v.kvlistValue?.values);
  if ('bytesValue' in v) return String(v.bytesValue);
  return null;
}
