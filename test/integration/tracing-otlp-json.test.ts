import { expect } from 'chai';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Span } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, AlwaysOnSampler, RandomIdGenerator, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { encodeTraceRequest, traceRequestJson } from '../../src/observability/tracing/otlp-json.js';
import { ServerSpanFactory, msToHrTime } from '../../src/observability/tracing/span.js';

/** The reference: what @opentelemetry/exporter-trace-otlp-http would send. */
function official(spans: ReadableSpan[]): unknown {
  return JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)!));
}

/** Our document with the span fields it leaves out at their default (proto3 JSON) put back. */
function withDefaults(doc: unknown): unknown {
  const d = doc as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
  for (const rs of d.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      ss.spans = ss.spans.map((span) => {
        const { attributes, droppedAttributesCount, events, droppedEventsCount, status, links, droppedLinksCount, flags, ...head } = span;
        return {
          ...head,
          attributes,
          droppedAttributesCount: droppedAttributesCount ?? 0,
          events: events ?? [],
          droppedEventsCount: droppedEventsCount ?? 0,
          status: status ?? { code: 0 },
          links: links ?? [],
          droppedLinksCount: droppedLinksCount ?? 0,
          flags,
        };
      });
    }
  }
  return d;
}

describe('tracing: OTLP/JSON encoding', function () {
  const resource = resourceFromAttributes({ 'service.name': 'checkout', 'service.version': '1.2.3', 'process.pid': 42, ratio: 0.5, tags: ['a', 'b'] });
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource, sampler: new AlwaysOnSampler(), spanProcessors: [new SimpleSpanProcessor(memory)] });
  const ended: ReadableSpan[] = [];
  const collect: SpanProcessor = {
    onStart() {},
    onEnd: (span) => void ended.push(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const limits = { attributeCountLimit: 128, attributeValueLengthLimit: Infinity, eventCountLimit: 128 };
  const factory = new ServerSpanFactory(new AlwaysOnSampler(), new RandomIdGenerator(), resource, { name: 'pounce', version: '0.1.0' }, collect, limits);

  after(() => provider.shutdown());

  it('pounce’s SERVER spans and the SDK’s spans encode exactly as the official JSON serializer encodes them', () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      traceState: new TraceState('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
      isRemote: true,
    });
    const start = Date.now() - 5 + 0.123456;
    const server = factory.start('GET', { 'http.request.method': 'GET', 'url.path': '/users/"quoted"\n', 'server.port': 8000, 'pounce.worker_id': 1 }, start, parent);
    server.setAttribute('http.response.status_code', 500);
    server.setAttribute('ratio', 0.25);
    server.setAttribute('flags', [true, false]);
    server.setAttribute('unicode', 'héllo ✓ 🐈');
    server.setAttribute('clé', 'v'); // a non-ASCII key, twice (the second time from the key cache)
    server.setAttribute('clé2', 'w');
    server.addEvent('request.slow', { 'pounce.elapsed_ms': 2003, 'pounce.threshold_ms': 2000 }, start + 2);
    server.recordException(new TypeError('boom'), start + 3);
    server.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    server.updateName('GET /users/:id');
    server.end(start + 4.5);

    const tracer = provider.getTracer('app', '9.9.9');
    const child: Span = tracer.startSpan('app.work', { kind: SpanKind.INTERNAL, attributes: { n: 1, big: 2 ** 40, neg: -3.5 } }, trace.setSpan(ROOT_CONTEXT, server));
    child.addEvent('tick');
    child.addLink({ context: server.spanContext(), attributes: { why: 'because' } });
    child.end();
    const root = tracer.startSpan('ráíz', { kind: SpanKind.CLIENT, attributes: { 'clé': 'again', plain: 'ascii' } });
    root.setStatus({ code: SpanStatusCode.OK });
    root.end();

    const spans = [ended[0]!, ...memory.getFinishedSpans()];
    expect(spans).to.have.length(3);
    const mine = JSON.parse(traceRequestJson(spans)) as unknown;
    expect(withDefaults(structuredClone(mine))).to.deep.equal(official(spans));
    // Defaults really are left out: the plain root span has no events, links or status.
    expect(traceRequestJson(spans)).to.not.include('"droppedLinksCount":0');

    // And the ids, parent and times came through as given.
    const encoded = mine as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
    const first = encoded.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(first).to.include({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7', name: 'GET /users/:id', kind: 2 });
    const [s, ns] = msToHrTime(start);
    expect(first.startTimeUnixNano).to.equal(String(BigInt(s) * 1_000_000_000n + BigInt(ns)));
  });

  it('grows its buffer for a batch larger than the buffer it was given', () => {
    const many: ReadableSpan[] = [];
    for (let i = 0; i < 300; i++) {
      const span = factory.start('GET', { 'url.path': '/x'.repeat(50), i }, Date.now(), ROOT_CONTEXT);
      span.end();
      many.push(ended[ended.length - 1]!);
    }
    const { buffer, length } = encodeTraceRequest(many, Buffer.alloc(1024));
    expect(length).to.be.greaterThan(1024);
    expect(withDefaults(JSON.parse(buffer.toString('utf8', 0, length)))).to.deep.equal(official(many));
  });
});
