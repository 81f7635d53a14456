import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

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

/** How an export arrived. */
export type Encoding = 'http/json' | 'http/protobuf' | 'grpc';

/**
 * A stand-in OpenTelemetry Collector on 127.0.0.1: OTLP/HTTP POST /v1/traces
 * in JSON or protobuf, and (startOtlpGrpcReceiver) OTLP/gRPC. It keeps every
 * span it receives, decoded, in arrival order.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** The encoding of every accepted export, in order. */
  readonly encodings: Encoding[] = [];
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
    const json = type.startsWith('application/json');
    if (!json && !type.startsWith('application/x-protobuf')) {
      this.rejected.push(`content-type ${type}`);
      return { status: 415, body: '{}' };
    }
    let payload: unknown;
    try {
      const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
      payload = json ? JSON.parse(raw.toString('utf8')) : decodeProtobuf(raw);
    } catch (err) {
      this.rejected.push(`bad body: ${(err as Error).message}`);
      return { status: 400, body: '{}' };
    }
    this.accept(payload, json ? 'http/json' : 'http/protobuf');
    // An empty ExportTraceServiceResponse, in the request's encoding.
    return json ? { status: this.options.status ?? 200, body: '{}' } : { status: this.options.status ?? 200, body: '', headers: { 'content-type': 'application/x-protobuf' } };
  }

  /** A decoded export request (JSON shape) arrived. */
  accept(payload: unknown, encoding: Encoding): void {
    this.exports++;
    this.encodings.push(encoding);
    for (const span of decodeExport(payload)) this.spans.push(span); // not push(...): a batch has no fixed bound
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** OTLP/gRPC on 127.0.0.1 (the collector's TraceService/Export), decoded into the same spans. */
export class OtlpGrpcReceiver extends OtlpReceiver {
  constructor(
    private readonly grpcServer: grpc.Server,
    private readonly grpcPort: number,
  ) {
    super(createServer(), {});
  }

  override get port(): number {
    return this.grpcPort;
  }

  override close(): Promise<void> {
    return new Promise((resolve) => this.grpcServer.tryShutdown(() => resolve()));
  }
}

export async function startOtlpGrpcReceiver(): Promise<OtlpGrpcReceiver> {
  let receiver: OtlpGrpcReceiver | undefined;
  const server = new grpc.Server();
  server.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: (value: Buffer) => value,
        requestDeserialize: (bytes: Buffer) => bytes,
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: () => ({}),
      },
    },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, object>, callback: grpc.sendUnaryData<object>) => {
        receiver!.accept(decodeProtobuf(call.request), 'grpc');
        callback(null, {});
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  receiver = new OtlpGrpcReceiver(server, port);
  return receiver;
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

/**
 * Run `fn` with a receiver started for it (by `start`, a plain startOtlpReceiver() unless
 * given); the receiver is closed however `fn` ends.
 */
export async function withReceiver<T>(fn: (receiver: OtlpReceiver) => Promise<T>, start: () => Promise<OtlpReceiver> = () => startOtlpReceiver()): Promise<T> {
  const receiver = await start();
  try {
    return await fn(receiver);
  } finally {
    await receiver.close();
  }
}

/** A port on 127.0.0.1 that nothing listens on (a collector that is down). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// --- OTLP/protobuf decoding ---------------------------------------------------

/** The parts of opentelemetry-proto (collector/trace/v1, trace/v1, common/v1, resource/v1) a trace export uses. */
const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10; repeated Event events = 11; uint32 dropped_events_count = 12; repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15;
}
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Status { string message = 2; int32 code = 3; }
`;

let exportRequest: protobuf.Type | undefined;

/** A protobuf ExportTraceServiceRequest, as the JSON mapping (ids base64, 64-bit numbers as strings). */
export function decodeProtobuf(bytes: Uint8Array): unknown {
  exportRequest ??= protobuf.parse(OTLP_PROTO).root.lookupType('otlp.ExportTraceServiceRequest');
  return exportRequest.toObject(exportRequest.decode(bytes), { longs: String, bytes: String, enums: Number });
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
