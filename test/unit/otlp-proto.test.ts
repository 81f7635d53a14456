import { expect } from 'chai';
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { encodeTraceRequest } from '../../src/observability/tracing/otlp-proto.js';

/** Every attribute value type the API allows, and the edges of the encoding. */
const ALL_TYPES: Attributes = {
  str: 'plain',
  empty: '',
  unicode: 'grüße 👋 — ✓',
  long: 'x'.repeat(300),
  bool: true,
  no: false,
  int: 42,
  zero: 0,
  negative: -7,
  big: 2 ** 40 + 3,
  min: -(2 ** 53),
  double: 3.25,
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  strings: ['a', 'bé', ''],
  numbers: [1, -2, 2.5],
  bools: [true, false],
  withNull: ['a', null as unknown as string, 'b'],
};

function spansFrom(limits: Record<string, number> = {}): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'otlp-proto-test', 'host.arch': 'amd64', 'process.pid': 1234, tags: ['a', 'b'] }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    spanLimits: limits,
  });
  const tracer = provider.getTracer('pounce', '1.2.3', { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' });
  const other = provider.getTracer('other-scope');

  const remoteParent = trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=value,other=1'),
  });
  const server = tracer.startSpan('GET /users/:id', { kind: SpanKind.SERVER, attributes: ALL_TYPES, startTime: [1_764_590_000, 123_456_789] }, remoteParent);
  server.addEvent('request.slow', { 'pounce.elapsed_ms': 1500, 'pounce.threshold_ms': 1000 }, [1_764_590_001, 5]);
  server.addEvent('plain');
  server.recordException(new TypeError('bad thing ✗'));
  server.addLink({
    context: { traceId: 'ffffffffffffffffffffffffffffffff', spanId: '0000000000000001', traceFlags: TraceFlags.NONE, isRemote: false, traceState: new TraceState('k=v') },
    attributes: { why: 'follows', n: 1 },
  });
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'the app threw' });
  server.end([1_764_590_002, 999_999_999]);

  const child = tracer.startSpan('SELECT', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), server));
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  const internal = other.startSpan('work', { attributes: { 'a.b': 'c' } });
  internal.end();
  // A span of many attributes: the span message needs a 3-byte length.
  const wide = tracer.startSpan('wide', { attributes: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`key.${i}`, 'v'.repeat(50)])) });
  wide.end();
  return exporter.getFinishedSpans();
}

describe('tracing: the one-pass OTLP protobuf encoder', function () {
  it('writes the same bytes as the official serializer: every value type, events, links, status, trace state, flags, resource, scopes', () => {
    const spans = spansFrom();
    expect(spans).to.have.length(4);
    const ours = encodeTraceRequest(spans);
    const official = ProtobufTraceSerializer.serializeRequest(spans)!;
    expect(ours.length).to.equal(official.length);
    expect(Buffer.from(ours).equals(Buffer.from(official))).to.equal(true);
  });

  it('the same bytes with dropped attributes, events and links counted', () => {
    const spans = spansFrom({ attributeCountLimit: 3, eventCountLimit: 1, linkCountLimit: 0, attributeValueLengthLimit: 4 });
    expect(spans[0]!.droppedAttributesCount).to.be.greaterThan(0);
    expect(spans[0]!.droppedEventsCount).to.be.greaterThan(0);
    expect(spans[0]!.droppedLinksCount).to.be.greaterThan(0);
    expect(Buffer.from(encodeTraceRequest(spans)).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!))).to.equal(true);
  });

  it('the same bytes for a full batch (512 spans: lengths of three bytes), and again with the buffer reused', () => {
    const one = spansFrom();
    const batch = Array.from({ length: 128 }, () => one).flat();
    for (let round = 0; round < 2; round++) {
      expect(Buffer.from(encodeTraceRequest(batch)).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(batch)!))).to.equal(true);
    }
    expect(Buffer.from(encodeTraceRequest(one.slice(1, 2))).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(one.slice(1, 2))!))).to.equal(true);
  });

  it('the same bytes when values repeat, change, and repeat again from span to span (the encoder keeps the last KeyValue of each key)', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('pounce', '1.2.3');
    const methods = ['GET', 'GET', 'POST', 'GET', 'DELETE'];
    for (let i = 0; i < 200; i++) {
      tracer
        .startSpan(methods[i % methods.length]!, {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': methods[i % methods.length]!,
            'url.path': i % 3 === 0 ? '/' : `/items/${i}`,
            'server.port': 8080,
            'client.port': 40_000 + i,
            'pounce.worker_id': 1,
            big: i % 7 === 0 ? 2 ** 33 : 7,
            ok: i % 2 === 0,
            // Short, then too long for the short form, then not ASCII.
            note: i % 4 === 0 ? 'n'.repeat(i) : i % 4 === 1 ? 'ünïcødé' : 'same',
          },
        })
        .end();
    }
    const spans = exporter.getFinishedSpans();
    for (let round = 0; round < 2; round++) {
      expect(Buffer.from(encodeTraceRequest(spans)).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!))).to.equal(true);
    }
  });

  it('the same bytes for values the API does not produce but a ReadableSpan may carry (bytes, maps, undefined)', () => {
    const [span] = spansFrom();
    const odd = Object.assign(Object.create(Object.getPrototypeOf(span)), span, {
      attributes: { bytes: new Uint8Array([0, 1, 255]), map: { k: 'v', n: 2, deep: { x: [1, 'y'] } }, nothing: undefined, neg: -(2 ** 62) },
    }) as ReadableSpan;
    expect(Buffer.from(encodeTraceRequest([odd])).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest([odd])!))).to.equal(true);
  });
});

describe('tracing: when pounce’s own SDK uses the one-pass encoder', function () {
  const plan = (protocol: 'http/protobuf' | 'http/json' | 'grpc') =>
    ({ sdk: 'pounce', tracesUrl: 'http://127.0.0.1:4318/v1/traces', endpointSource: 'otelEndpoint', protocol, warnings: [] }) as const;

  it('only where NodeSDK would build exactly one OTLP http/protobuf exporter', async () => {
    const { fastExporterWanted } = await import('../../src/observability/tracing/index.js');
    expect(fastExporterWanted(plan('http/protobuf'), {})).to.equal(true);
    expect(fastExporterWanted(plan('http/protobuf'), { OTEL_TRACES_EXPORTER: ' otlp ' })).to.equal(true);
    expect(fastExporterWanted(plan('http/protobuf'), { OTEL_TRACES_EXPORTER: 'otlp,otlp' })).to.equal(true);
    expect(fastExporterWanted(plan('http/json'), {})).to.equal(false);
    expect(fastExporterWanted(plan('grpc'), {})).to.equal(false);
    expect(fastExporterWanted(plan('http/protobuf'), { OTEL_TRACES_EXPORTER: 'otlp,console' })).to.equal(false);
    expect(fastExporterWanted(plan('http/protobuf'), { OTEL_TRACES_EXPORTER: 'console' })).to.equal(false);
    expect(fastExporterWanted(plan('http/protobuf'), { OTEL_TRACES_EXPORTER: 'zipkin' })).to.equal(false);
    expect(fastExporterWanted(plan('http/protobuf'), { OTEL_TRACES_EXPORTER: 'none' })).to.equal(false);
  });
});
