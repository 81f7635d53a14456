import { expect } from 'chai';
import { trace } from '@opentelemetry/api';
import { PooledIdGenerator } from '../../src/observability/tracing/ids.js';

describe('tracing: the id generator of pounce’s own SDK', function () {
  it('makes valid W3C ids (lowercase hex, 32 and 16 characters), all different, across many pool refills', () => {
    const ids = new PooledIdGenerator();
    const traceIds = new Set<string>();
    const spanIds = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const traceId = ids.generateTraceId();
      const spanId = ids.generateSpanId();
      expect(traceId).to.match(/^[0-9a-f]{32}$/);
      expect(spanId).to.match(/^[0-9a-f]{16}$/);
      expect(trace.isSpanContextValid({ traceId, spanId, traceFlags: 1 })).to.equal(true);
      traceIds.add(traceId);
      spanIds.add(spanId);
    }
    expect(traceIds.size).to.equal(5000);
    expect(spanIds.size).to.equal(5000);
  });

  it('uses every hex digit in every position (random, not a counter)', () => {
    const ids = new PooledIdGenerator();
    const seen = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) [...ids.generateTraceId()].forEach((c, p) => seen[p]!.add(c));
    expect(seen.map((s) => s.size)).to.deep.equal(Array(32).fill(16));
  });
});
