import { expect } from 'chai';
import { context, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OtlpProtoSpanExporter } from '../../src/observability/tracing/otlp-proto.js';
import { closedPort, startOtlpReceiver, type Encoding, type OtlpReceiver } from '../helpers/otlp-receiver.js';

/** SDK spans of every shape: remote parent with trace state, child, events, links, status, every attribute type, dropped counts. */
function makeSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'exporter-test', 'process.pid': 4321, 'host.arch': 'arm64' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
    spanLimits: { eventCountLimit: 3 },
  });
  const tracer = provider.getTracer('pounce', '9.9.9');
  const parent = trace.setSpanContext(context.active(), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'),
  });
  const server = tracer.startSpan(
    'GET /items/:id',
    {
      kind: SpanKind.SERVER,
      attributes: { s: 'ünïcødé ✓', b: false, i: -12, big: 2 ** 45, d: 0.5, arr: ['x', 'y'], nums: [1, 2.5], bools: [true] },
    },
    parent,
  );
  for (let i = 0; i < 5; i++) server.addEvent(`event.${i}`, { n: i });
  server.addLink({ context: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: TraceFlags.NONE, traceState: new TraceState('k=v') }, attributes: { why: 'batch' } });
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'it failed' });
  server.end();
  const client = tracer.startSpan('GET', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), server));
  client.setStatus({ code: SpanStatusCode.OK });
  client.end();
  return memory.getFinishedSpans();
}

/** What the receiver decoded from one exporter, one export. */
async function exportThrough(exporter: SpanExporter, receiver: OtlpReceiver, spans: ReadableSpan[]): Promise<{ payload: unknown; encoding: Encoding }> {
  const captured: Array<{ payload: unknown; encoding: Encoding }> = [];
  const accept = receiver.accept.bind(receiver);
  receiver.accept = (payload, encoding) => {
    captured.push({ payload, encoding });
    accept(payload, encoding);
  };
  try {
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));
    expect(result.code, String(result.error)).to.equal(0);
  } finally {
    receiver.accept = accept;
  }
  expect(captured).to.have.length(1);
  return captured[0]!;
}

const ENV = ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT'];

describe('tracing: pounce’s OTLP http/protobuf exporter against the official one (real SDK spans, a decoding receiver)', function () {
  let receiver: OtlpReceiver;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    receiver = await startOtlpReceiver();
    for (const key of ENV) saved[key] = process.env[key];
  });

  afterEach(() => {
    for (const key of ENV) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  after(async () => {
    await receiver.close();
  });

  it('the receiver decodes the same export request, field by field: resource, scope, ids, trace state, flags, events, links, status, dropped counts', async () => {
    const spans = makeSpans();
    const url = `${receiver.url}/v1/traces`;
    const ours = await exportThrough(new OtlpProtoSpanExporter({ url }), receiver, spans);
    const official = await exportThrough(new OTLPTraceExporter({ url }), receiver, spans);
    expect(ours.encoding).to.equal('http/protobuf');
    expect(official.encoding).to.equal('http/protobuf');
    expect(ours.payload).to.deep.equal(official.payload);

    // And the decoded request says what was made (the comparison above is not of two empty things).
    const decoded = (ours.payload as any).resourceSpans[0].scopeSpans[0].spans;
    expect(decoded).to.have.length(2);
    expect(decoded[0]).to.include({ name: 'GET /items/:id', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', droppedEventsCount: 2, flags: 0x301 });
    expect(decoded[0].links).to.have.length(1);
    expect(decoded[0].status).to.deep.equal({ code: 2, message: 'it failed' });
    expect(decoded[1]).to.include({ name: 'GET', flags: 0x101 });
  });

  it('honours OTEL_EXPORTER_OTLP_TRACES_HEADERS and gzip compression from the environment, as the official exporter does', async () => {
    process.env.OTEL_EXPORTER_OTLP_TRACES_HEADERS = 'x-team=blue,authorization=Bearer%20abc';
    process.env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION = 'gzip';
    const spans = makeSpans();
    const url = `${receiver.url}/v1/traces`;
    const first = receiver.requestHeaders.length;
    const ours = await exportThrough(new OtlpProtoSpanExporter({ url }), receiver, spans);
    const official = await exportThrough(new OTLPTraceExporter({ url }), receiver, spans);
    expect(ours.payload).to.deep.equal(official.payload);
    const [oursHeaders, officialHeaders] = receiver.requestHeaders.slice(first);
    for (const headers of [oursHeaders!, officialHeaders!]) {
      expect(headers).to.include({ 'x-team': 'blue', authorization: 'Bearer abc', 'content-encoding': 'gzip', 'content-type': 'application/x-protobuf' });
    }
  });

  it('a collector that is down: the export fails with the transport’s error, as the official one does', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1/traces`;
    process.env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = '2000';
    const results = await Promise.all(
      [new OtlpProtoSpanExporter({ url }), new OTLPTraceExporter({ url })].map(
        (exporter) => new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(makeSpans(), resolve)),
      ),
    );
    expect(results.map((r) => r.code)).to.deep.equal([1, 1]);
    expect(results[0]!.error?.message).to.equal(results[1]!.error?.message);
  });
});
