import { expect } from 'chai';
import { request } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FIXTURES, startPounce, sleep, type PounceProcess } from '../helpers/pounce.js';
import { closedPort, SPAN_KIND, STATUS_CODE, startOtlpReceiver, withReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One request on a fresh connection (a POST when a body is given). */
function get(url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent: false, headers, method: body === undefined ? 'GET' : 'POST' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolvePromise({ status: res.statusCode!, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/** The ids pounce sent back in `traceresponse`. */
function traceOf(answer: Answer): { traceId: string; spanId: string; flags: string } {
  const header = answer.headers.traceresponse;
  expect(header, 'traceresponse header').to.be.a('string');
  const m = TRACEPARENT.exec(header as string);
  expect(m, `traceresponse ${String(header)}`).to.not.equal(null);
  return { traceId: m![1]!, spanId: m![2]!, flags: m![3]! };
}

const bySpanId = (spanId: string) => (spans: ReceivedSpan[]) => spans.some((s) => s.spanId === spanId);

describe('tracing: one SERVER span per request, ids shared with the logs', function () {
  let receiver: OtlpReceiver;
  let pounce: PounceProcess;

  before(async () => {
    receiver = await startOtlpReceiver();
    pounce = await startPounce({
      app: 'tracing-fetch.js',
      args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug', '--health-check-path', '/health', '--log-slow-requests-threshold', '0.2'],
      env: { OTEL_BSP_SCHEDULE_DELAY: '50' },
    });
  });

  after(async () => {
    const result = await pounce.stop();
    await receiver.close();
    expect(result.code).to.equal(0);
    expect(pounce.nonJson, 'stdout stays pure JSON').to.deep.equal([]);
    expect(pounce.stderr).to.equal('');
    expectValidLifecycleLines(pounce.lines);
    expect(receiver.rejected).to.deep.equal([]);
  });

  it('says where spans go, once, at start', () => {
    const enabled = pounce.lines.filter((l) => l.event === 'TracingEnabled');
    expect(enabled).to.have.length(1);
    expect(enabled[0]).to.include({ logger: 'pounce.server', level: 'info', endpoint: `${receiver.url}/v1/traces`, service_name: 'pounce' });
  });

  it('SERVER span named by method and route, with the stable HTTP attributes; the same ids in RequestStarted, ResponseCompleted and the access line', async () => {
    const answer = await get(`${pounce.url}/users/42?token=secret`, { 'user-agent': 'tracing-test/1.0' });
    expect(answer.status).to.equal(200);
    const ids = traceOf(answer);
    expect(ids.flags).to.equal('01');

    const spans = await receiver.waitFor(bySpanId(ids.spanId), 5000, 'the /users/42 span');
    const span = spans.find((s) => s.spanId === ids.spanId)!;
    expect(span.traceId).to.equal(ids.traceId);
    expect(span.kind).to.equal(SPAN_KIND.SERVER);
    expect(span.name).to.equal('GET /users/:id');
    expect(span.parentSpanId).to.equal('');
    expect(span.status.code).to.equal(STATUS_CODE.UNSET);
    expect(span.scope.name).to.equal('pounce');
    expect(span.resource['service.name']).to.equal('pounce');

    const started = await pounce.waitForEvent('RequestStarted', (l) => l.path === '/users/42');
    const completed = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/users/42');
    const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === '/users/42');
    expect(span.attributes).to.deep.equal({
      'http.request.method': 'GET',
      'url.path': '/users/42',
      'url.scheme': 'http',
      'http.response.status_code': 200,
      'http.route': '/users/:id',
      'network.protocol.version': '1.1',
      'client.address': '127.0.0.1',
      'client.port': span.attributes['network.peer.port'],
      'network.peer.address': '127.0.0.1',
      'network.peer.port': span.attributes['client.port'],
      'url.query': 'token=secret',
      'server.address': '127.0.0.1',
      'server.port': pounce.port,
      'user_agent.original': 'tracing-test/1.0',
      'pounce.connection_id': started.connection_id,
      'pounce.worker_id': 1,
    });
    for (const line of [started, completed, access]) {
      expect(line, JSON.stringify(line)).to.include({ trace_id: span.traceId, span_id: span.spanId, trace_flags: '01', connection_id: started.connection_id });
    }
    // The span covers exactly the interval the lifecycle log reports.
    const spanMs = Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6;
    expect(spanMs).to.be.closeTo(completed.duration_ms as number, 0.01);
  });

  it('an incoming traceparent/tracestate is the parent; the logs carry pounce’s own span id, not the caller’s', async () => {
    const parentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentSpan = '00f067aa0ba902b7';
    const answer = await get(`${pounce.url}/propagated`, { traceparent: `00-${parentTrace}-${parentSpan}-01`, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' });
    const ids = traceOf(answer);
    expect(ids.traceId).to.equal(parentTrace);
    expect(ids.spanId).to.not.equal(parentSpan);

    const spans = await receiver.waitFor(bySpanId(ids.spanId), 5000, 'the propagated span');
    const span = spans.find((s) => s.spanId === ids.spanId)!;
    expect(span).to.include({ traceId: parentTrace, parentSpanId: parentSpan, traceState: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', kind: SPAN_KIND.SERVER, name: 'GET' });
    const started = await pounce.waitForEvent('RequestStarted', (l) => l.path === '/propagated');
    expect(started).to.include({ trace_id: parentTrace, span_id: ids.spanId });
  });

  it('a span the app makes with @opentelemetry/api nests under pounce’s span; currentRequest().log lines carry its trace id', async () => {
    const answer = await get(`${pounce.url}/child`);
    const ids = traceOf(answer);
    const body = JSON.parse(answer.body) as { app: { trace_id: string; span_id: string }; pounce: { trace_id: string; span_id: string } };
    expect(body.pounce).to.deep.equal({ trace_id: ids.traceId, span_id: ids.spanId });
    expect(body.app.trace_id).to.equal(ids.traceId);

    const spans = await receiver.waitFor((all) => all.filter((s) => s.traceId === ids.traceId).length >= 3, 5000, 'the app spans');
    const trace = spans.filter((s) => s.traceId === ids.traceId);
    const work = trace.find((s) => s.name === 'app.work')!;
    const inner = trace.find((s) => s.name === 'app.inner')!;
    expect(work.spanId).to.equal(body.app.span_id);
    expect(work.parentSpanId).to.equal(ids.spanId);
    expect(work.scope.name).to.equal('app');
    expect(inner.parentSpanId).to.equal(work.spanId);

    const appLine = await pounce.waitFor((l) => l.logger === 'pounce.app' && l.step === 'child-done');
    expect(appLine).to.include({ trace_id: ids.traceId, span_id: ids.spanId, trace_flags: '01' });
  });

  it('5xx: status ERROR and error.type is the status code', async () => {
    const ids = traceOf(await get(`${pounce.url}/status?code=503`));
    const spans = await receiver.waitFor(bySpanId(ids.spanId), 5000, 'the 503 span');
    const span = spans.find((s) => s.spanId === ids.spanId)!;
    expect(span.status.code).to.equal(STATUS_CODE.ERROR);
    expect(span.attributes).to.include({ 'http.response.status_code': 503, 'error.type': '503' });
  });

  it('4xx is not a server error: status stays unset', async () => {
    const ids = traceOf(await get(`${pounce.url}/status?code=404`));
    const spans = await receiver.waitFor(bySpanId(ids.spanId), 5000, 'the 404 span');
    const span = spans.find((s) => s.spanId === ids.spanId)!;
    expect(span.status.code).to.equal(STATUS_CODE.UNSET);
    expect(span.attributes).to.not.have.property('error.type');
  });

  it('a thrown app error: ERROR, error.type the error class, an exception event; the 500 still carries traceresponse', async () => {
    const answer = await get(`${pounce.url}/throw`);
    expect(answer.status).to.equal(500);
    expect(answer.body).to.equal('Internal Server Error\n');
    const ids = traceOf(answer);
    const spans = await receiver.waitFor(bySpanId(ids.spanId), 5000, 'the /throw span');
    const span = spans.find((s) => s.spanId === ids.spanId)!;
    expect(span.status).to.deep.equal({ code: STATUS_CODE.ERROR, message: 'fetch boom' });
    expect(span.attributes).to.include({ 'error.type': 'TypeError', 'http.response.status_code': 500 });
    const exception = span.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).to.include({ 'exception.type': 'TypeError', 'exception.message': 'fetch boom' });
    const errorLine = await pounce.waitFor((l) => l.logger === 'pounce.app' && l.level === 'error' && l.trace_id === ids.traceId);
    expect(errorLine.span_id).to.equal(ids.spanId);
  });

  it('a slow request gets a request.slow span event at the moment RequestSlow is logged', async () => {
    const ids = traceOf(await get(`${pounce.url}/slow?ms=450`));
    const spans = await receiver.waitFor(bySpanId(ids.spanId), 5000, 'the slow span');
    const span = spans.find((s) => s.spanId === ids.spanId)!;
    const slow = span.events.filter((e) => e.name === 'request.slow');
    expect(slow).to.have.length(1);
    expect(slow[0]!.attributes['pounce.threshold_ms']).to.equal(200);
    const logged = await pounce.waitForEvent('RequestSlow', (l) => l.trace_id === ids.traceId);
    expect(slow[0]!.attributes['pounce.elapsed_ms']).to.equal(Math.round(logged.elapsed_ms as number));
  });

  it('a client that disconnects: client.disconnected event, error.type, same ids as ClientDisconnected', async () => {
    let traceresponse: string | undefined;
    const req = request(`${pounce.url}/hang`, { agent: false });
    req.on('error', () => {});
    req.on('response', (res) => (traceresponse = res.headers.traceresponse as string));
    req.end();
    const started = await pounce.waitForEvent('RequestStarted', (l) => l.path === '/hang');
    req.destroy();
    const disconnected = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/hang');
    expect(traceresponse, 'no head was sent').to.equal(undefined);
    expect(disconnected.span_id).to.equal(started.span_id);
    const spans = await receiver.waitFor(bySpanId(started.span_id as string), 5000, 'the /hang span');
    const span = spans.find((s) => s.spanId === started.span_id)!;
    expect(span.traceId).to.equal(started.trace_id);
    expect(span.events.map((e) => e.name)).to.include('client.disconnected');
    expect(span.attributes['error.type']).to.equal('client_disconnect');
    expect(span.attributes, 'no status code was sent').to.not.have.property('http.response.status_code');
    expect(span.status.code).to.equal(STATUS_CODE.ERROR);
  });

  it('health checks: no span and no log line', async () => {
    for (let i = 0; i < 3; i++) expect((await get(`${pounce.url}/health`)).status).to.equal(200);
    const health = await get(`${pounce.url}/health`);
    expect(health.headers.traceresponse).to.equal(undefined);
    // A traced request after the probes: once its span is in, the probes' would be too.
    const marker = traceOf(await get(`${pounce.url}/after-health`));
    await receiver.waitFor(bySpanId(marker.spanId), 5000, 'the marker span');
    await sleep(100);
    expect(receiver.spans.filter((s) => s.attributes['url.path'] === '/health')).to.deep.equal([]);
    expect(pounce.lines.filter((l) => l.path === '/health')).to.deep.equal([]);
  });
});

describe('tracing: a health path the app answers (passthrough)', function () {
  it('is never traced, not even when it fails and is logged', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'health-passthrough.js',
        args: ['--otel-endpoint', receiver.url, '--health-check-path', '/health', '--health-check-passthrough', '--lifecycle-logging', '--log-level', 'debug'],
        env: { OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      expect((await get(`${pounce.url}/health`)).status).to.equal(200);
      const failing = traceOf(await get(`${pounce.url}/fail-health`));
      const unhealthy = await get(`${pounce.url}/health`);
      expect(unhealthy.status).to.equal(500);
      expect(unhealthy.headers.traceresponse).to.equal(undefined);
      const logged = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/health' && l.status === 500);
      expect(logged, 'a failing health check is logged, without trace ids').to.not.have.property('trace_id');
      await pounce.stop();
      expect(receiver.spans.map((s) => s.spanId)).to.deep.equal([failing.spanId]);
    });
  });
});

describe('tracing: node-style app, spans flushed on SIGTERM', function () {
  it('no span is exported before shutdown (60 s batch delay); after SIGTERM the collector has all of them, app spans nested', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-node.js',
        args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug'],
        env: { OTEL_BSP_SCHEDULE_DELAY: '60000' },
      });
      const answers = await Promise.all([get(`${pounce.url}/child`), get(`${pounce.url}/child`), get(`${pounce.url}/child`)]);
      const thrown = await get(`${pounce.url}/throw`);
      const posted = await get(`${pounce.url}/body`, {}, 'x'.repeat(200_000));
      expect(thrown.status).to.equal(500);
      await sleep(200);
      expect(receiver.spans, 'nothing exported before shutdown').to.have.length(0);

      const result = await pounce.stop('SIGTERM');
      expect(result.code).to.equal(0);
      expect(pounce.nonJson).to.deep.equal([]);
      expect(receiver.spans.filter((s) => s.kind === SPAN_KIND.SERVER)).to.have.length(5);

      for (const answer of answers) {
        const ids = traceOf(answer);
        const body = JSON.parse(answer.body) as { app: { trace_id: string; span_id: string }; active_is_app_span: boolean; pounce: { span_id: string } };
        expect(body.active_is_app_span, 'the app span is active inside startActiveSpan, across a promise').to.equal(true);
        expect(body.pounce.span_id).to.equal(ids.spanId);
        const app = receiver.spans.find((s) => s.spanId === body.app.span_id);
        expect(app, 'the app span was exported').to.not.equal(undefined);
        expect(app!).to.include({ name: 'app.node-work', traceId: ids.traceId, parentSpanId: ids.spanId });
      }
      const throwSpan = receiver.spans.find((s) => s.spanId === traceOf(thrown).spanId)!;
      expect(throwSpan.attributes['error.type']).to.equal('RangeError');

      // Listeners on the request body run in the request's context: spans and log lines made there join the trace.
      const postIds = traceOf(posted);
      const postBody = JSON.parse(posted.body) as { size: number; app: { span_id: string } };
      expect(postBody.size).to.equal(200_000);
      expect(receiver.spans.find((s) => s.spanId === postBody.app.span_id)).to.include({ name: 'app.after-body', traceId: postIds.traceId, parentSpanId: postIds.spanId });
      expect(pounce.lines.find((l) => l.step === 'body-read')).to.include({ trace_id: postIds.traceId, span_id: postIds.spanId });
    });
  });
});

describe('tracing: an app that does not import pounce, on the SDK pounce starts', function () {
  it('its console lines carry the request’s connection and span ids after an await, in a timer after the response, in body listeners', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({ app: 'tracing-console.js', args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug'], env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
      const awaited = await get(`${pounce.url}/await`);
      const later = await get(`${pounce.url}/later`);
      const posted = await get(`${pounce.url}/body`, {}, 'x'.repeat(100_000));
      expect(posted.body).to.equal('100000\n');
      await pounce.waitFor((l) => l.msg === 'in a timer after the response');
      await receiver.waitFor((spans) => spans.length >= 3, 5000);
      await pounce.stop();

      const app = (msg: string) => pounce.lines.find((l) => l.logger === 'pounce.app' && l.msg === msg)!;
      expect(app('loading the app')).to.not.have.property('trace_id');
      expect(app('loading the app')).to.not.have.property('connection_id');
      for (const [answer, msg, path] of [
        [awaited, 'after an await', '/await'],
        [later, 'in a timer after the response', '/later'],
        [posted, 'body read 100000', '/body'],
      ] as const) {
        const ids = traceOf(answer);
        const completed = pounce.events('ResponseCompleted').find((l) => l.path === path)!;
        expect(app(msg), msg).to.include({ connection_id: completed.connection_id, trace_id: ids.traceId, span_id: ids.spanId });
        expect(receiver.spans.find((s) => s.spanId === ids.spanId), `the span of ${path}`).to.include({ traceId: ids.traceId, kind: SPAN_KIND.SERVER });
      }
    });
  });
});

describe('tracing: an idle keep-alive connection', function () {
  it('closes after keepAliveTimeout, and its timer does not keep the finished request (contexts, span, record) alive', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-retain.js',
        args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug', '--keep-alive-timeout', '3'],
        env: { OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      // Requests on one keep-alive connection, which then stays idle.
      const socket = connect(pounce.port, '127.0.0.1');
      await once(socket, 'connect');
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      const closed = once(socket, 'close');
      for (let i = 1; i <= 3; i++) {
        socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
        while (received.split('held\n').length <= i) await once(socket, 'data');
      }
      const idleFrom = Date.now();
      expect(received).to.match(/^HTTP\/1\.1 200 /);
      expect(received).to.match(/\r\ntraceresponse: 00-[0-9a-f]{32}-[0-9a-f]{16}-01\r\n/i);

      // Timers armed while a response goes out hold that request until they fire: the batch
      // processor's (50 ms here), and node's cache of the Date header (under 1 s).
      await receiver.waitFor((spans) => spans.length >= 3, 5000);
      await sleep(1100);
      // From another connection while that one is idle: the three requests' contexts are unreachable.
      const counted = await get(`${pounce.url}/collect`);
      expect(JSON.parse(counted.body)).to.deep.equal({ held: 6, alive: 0 });

      await closed;
      expect(Date.now() - idleFrom).to.be.within(2700, 6000);
      const done = await pounce.waitForEvent('ConnectionCompleted', (l) => l.requests_served === 3 && l.reason === 'timeout');
      const ids = pounce.connectionEvents(done.connection_id).filter((l) => l.event === 'ResponseCompleted').map((l) => l.span_id);
      expect(ids).to.have.length(3);
      for (const id of ids) expect(receiver.spans.find((s) => s.spanId === id), 'each request\'s span was exported').to.not.equal(undefined);
      expect((await pounce.stop()).code).to.equal(0);
    });
  });
});

describe('tracing: on the SDK pounce starts, the request rides in OpenTelemetry’s context', function () {
  it('one AsyncLocalStorage store per async resource, not two; currentRequest() and the active span agree after a timer and an await', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({ app: 'tracing-retain.js', args: ['--otel-endpoint', receiver.url], env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
      for (let i = 0; i < 3; i++) {
        const answer = await get(`${pounce.url}/stores`);
        const ids = traceOf(answer);
        expect(JSON.parse(answer.body)).to.deep.equal({ stores: 1, request: ids.spanId, span: ids.spanId });
      }
      expect((await pounce.stop()).code).to.equal(0);
    });
  });
});

describe('tracing: with workers', function () {
  it('every worker traces its own requests (pounce.worker_id), and SIGTERM flushes them all', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-fetch.js',
        args: ['--otel-endpoint', receiver.url, '--workers', '2', '--lifecycle-logging', '--log-level', 'debug'],
        env: { OTEL_BSP_SCHEDULE_DELAY: '60000' },
      });
      const requests = 16;
      for (let i = 0; i < requests; i++) traceOf(await get(`${pounce.url}/users/${i}`));
      const result = await pounce.stop('SIGTERM');
      expect(result.code).to.equal(0);
      expect(pounce.lines.filter((l) => l.event === 'TracingEnabled').map((l) => l.worker_id).sort()).to.deep.equal([1, 2]);
      expect(receiver.spans).to.have.length(requests);
      expect(new Set(receiver.spans.map((s) => s.attributes['pounce.worker_id']))).to.deep.equal(new Set([1, 2]));
      // Each RequestStarted names the span of its own worker and connection.
      const bySpanId = new Map(receiver.spans.map((s) => [s.spanId, s]));
      for (const line of pounce.events('RequestStarted')) {
        const span = bySpanId.get(line.span_id as string);
        expect(span?.attributes, JSON.stringify(line)).to.include({ 'pounce.worker_id': line.worker_id, 'pounce.connection_id': line.connection_id });
      }
    });
  });
});

describe('tracing: a collector that is down', function () {
  it('changes no response, and yields one warn line with the count, not one per span or batch', async () => {
    const port = await closedPort();
    const pounce = await startPounce({
      app: 'tracing-fetch.js',
      args: ['--otel-endpoint', `http://127.0.0.1:${port}`],
      env: { OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '500' },
    });
    for (let round = 0; round < 3; round++) {
      const [hello, user, missing] = await Promise.all([get(`${pounce.url}/`), get(`${pounce.url}/users/7`), get(`${pounce.url}/status?code=404`)]);
      expect([hello.status, hello.body]).to.deep.equal([200, 'hello GET /\n']);
      expect([user.status, user.body]).to.deep.equal([200, '{"id":"7"}']);
      expect([missing.status, missing.body]).to.deep.equal([404, 'status\n']);
      for (const a of [hello, user, missing]) traceOf(a);
      // Let each round's batch be exported (and fail) on its own.
      await sleep(300);
    }
    const failures = () => pounce.lines.filter((l) => l.event === 'TraceExportFailed');
    const first = await pounce.waitFor((l) => l.event === 'TraceExportFailed', 5000, 'the export warning');
    expect(first).to.include({ level: 'warn', logger: 'pounce.server', endpoint: `http://127.0.0.1:${port}/v1/traces`, failed_exports: 1 });
    expect(first.error).to.match(/ECONNREFUSED/);
    await sleep(500);
    expect(failures(), 'several failed batches, one line').to.have.length(1);
    // At most one diagnostic line besides it (the exporter's own word, rate-limited).
    expect(pounce.lines.filter((l) => (l.level === 'warn' || l.level === 'error') && l.event !== 'TraceExportFailed' && l.event !== 'OtelDiagnostic')).to.deep.equal([]);

    const stopped = Date.now();
    const result = await pounce.stop('SIGTERM');
    expect(result.code).to.equal(0);
    expect(Date.now() - stopped, 'shutdown is not held up by the dead collector').to.be.below(5000);
    expect(pounce.nonJson).to.deep.equal([]);
    expect(pounce.stderr).to.equal('');
    // At shutdown, what was not reported yet is reported once more, with the count.
    const all = failures();
    expect(all).to.have.length(2);
    expect(all[1]!.failed_exports).to.be.at.least(1);
  });
});

describe('tracing: a slow collector', function () {
  it('never slows a request; a full export queue drops spans and the SDK says how many', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-fetch.js',
        args: ['--otel-endpoint', receiver.url],
        env: { OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_BSP_MAX_QUEUE_SIZE: '8' },
      });
      const requests = 30;
      for (let i = 0; i < requests; i++) {
        const begin = performance.now();
        const answer = await get(`${pounce.url}/users/${i}`);
        expect(answer.status).to.equal(200);
        // The collector takes 1.5 s to answer: a request that waited for it would take that long. No tighter
        // bound: on a busy machine a request alone can take a few hundred ms.
        expect(performance.now() - begin, 'a request does not wait for the collector').to.be.below(1000);
        await sleep(10);
      }
      // The BatchSpanProcessor reports its drops when the queue has room again.
      await sleep(1800);
      await get(`${pounce.url}/users/last`);
      const warning = await pounce.waitFor((l) => l.event === 'OtelDiagnostic' && /Dropped \d+ spans because maxQueueSize reached/.test(l.msg), 5000, 'the queue-full diagnostic');
      expect(warning.level).to.equal('warn');
      const result = await pounce.stop('SIGTERM');
      expect(result.code).to.equal(0);
      expect(pounce.nonJson).to.deep.equal([]);
      expect(receiver.spans.length).to.be.within(8, requests);
    }, () => startOtlpReceiver({ delayMs: 1500 }));
  });
});

describe('tracing: standard OTEL_* configuration', function () {
  it('OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, a parent-based ratio sampler; headers, gzip, a retried 503', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-fetch.js',
        args: ['--lifecycle-logging', '--log-level', 'debug'],
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`,
          OTEL_SERVICE_NAME: 'checkout',
          OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=payments',
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0',
          OTEL_BSP_SCHEDULE_DELAY: '50',
          OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret,x-tenant=acme',
          OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
        },
      });
      // Ratio 0: a request of its own is not sampled, but still has ids, shared with the logs (flags 00).
      const unsampled = traceOf(await get(`${pounce.url}/unsampled`));
      expect(unsampled.flags).to.equal('00');
      const started = await pounce.waitForEvent('RequestStarted', (l) => l.path === '/unsampled');
      expect(started).to.include({ trace_id: unsampled.traceId, span_id: unsampled.spanId, trace_flags: '00' });
      // A sampled caller decides for us (parent-based).
      const caller = '11111111111111111111111111111111';
      const sampled = traceOf(await get(`${pounce.url}/sampled`, { traceparent: `00-${caller}-2222222222222222-01` }));
      expect(sampled).to.include({ traceId: caller, flags: '01' });
      const spans = await receiver.waitFor(bySpanId(sampled.spanId), 5000, 'the sampled span');
      const span = spans.find((s) => s.spanId === sampled.spanId)!;
      expect(span.resource).to.include({ 'service.name': 'checkout', 'deployment.environment.name': 'test', team: 'payments' });
      await pounce.stop();
      expect(receiver.spans.map((s) => s.spanId)).to.deep.equal([sampled.spanId]);
      // The collector said 503 (Retry-After: 0) once: the same batch went again and got through, no warning.
      expect(receiver.refused).to.equal(1);
      expect(receiver.requestHeaders).to.have.length(2);
      expect(pounce.lines.filter((l) => l.level === 'warn')).to.deep.equal([]);
      // The specification's default protocol: http/protobuf.
      expect(receiver.requestHeaders[1]).to.include({ authorization: 'Bearer s3cret', 'x-tenant': 'acme', 'content-encoding': 'gzip', 'content-type': 'application/x-protobuf' });
      expect(pounce.lines.find((l) => l.event === 'TracingEnabled')).to.include({
        endpoint: `${receiver.url}/v1/traces`,
        endpoint_source: 'OTEL_EXPORTER_OTLP_ENDPOINT',
        service_name: 'checkout',
      });
    }, () => startOtlpReceiver({ failFirst: 1 }));
  });
});

describe('tracing: OpenTelemetry’s own diagnostics', function () {
  it('a bad OTEL_* value is one pounce.server warn line (JSON), never raw text on stdout or stderr', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({ app: 'tracing-plain.js', args: ['--otel-endpoint', receiver.url], env: { OTEL_TRACES_SAMPLER: 'bogus' } });
      expect((await get(`${pounce.url}/`)).status).to.equal(200);
      const result = await pounce.stop();
      expect(result.code).to.equal(0);
      expect(pounce.nonJson).to.deep.equal([]);
      expect(pounce.stderr).to.equal('');
      const diagnostics = pounce.lines.filter((l) => l.event === 'OtelDiagnostic');
      expect(diagnostics).to.have.length(1);
      expect(diagnostics[0]).to.include({ level: 'warn', logger: 'pounce.server' });
      expect(diagnostics[0]!.msg).to.match(/OTEL_TRACES_SAMPLER value "bogus"/);
      expect(receiver.spans).to.have.length(1);
    });
  });
});

describe('tracing: without an endpoint no OpenTelemetry module is loaded', function () {
  const recorder = pathToFileURL(resolve(FIXTURES, 'tracing-import-recorder.js')).href;
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'pounce-imports-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Run pounce with the import recorder, serve one request, stop; the modules it loaded. */
  async function modulesLoaded(name: string, args: string[]): Promise<{ modules: string[]; answer: Answer }> {
    const file = join(dir, `${name}.log`);
    const pounce = await startPounce({
      app: 'tracing-plain.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', ...args],
      env: { NODE_OPTIONS: `--import=${recorder}`, TRACING_IMPORT_LOG: file },
    });
    const answer = await get(`${pounce.url}/`);
    const result = await pounce.stop();
    expect(result.code).to.equal(0);
    return { modules: readFileSync(file, 'utf8').split('\n').filter(Boolean), answer };
  }

  it('no endpoint: not one @opentelemetry module, in the ESM loader or the CommonJS cache', async () => {
    const { modules, answer } = await modulesLoaded('off', []);
    expect(answer.status).to.equal(200);
    expect(answer.headers.traceresponse).to.equal(undefined);
    // The recorder saw the process load (so an empty result below means something).
    expect(modules.some((m) => m.includes('/dist/runtime/serve.js'))).to.equal(true);
    expect(modules.some((m) => m.includes('/dist/observability/tracing/settings.js'))).to.equal(true);
    expect(modules.filter((m) => /@opentelemetry|observability\/tracing\/index\.js/.test(m))).to.deep.equal([]);
  });

  it('with an endpoint the same recorder does see the SDK load (the check above can fail)', async () => {
    await withReceiver(async (receiver) => {
      const { modules, answer } = await modulesLoaded('on', ['--otel-endpoint', receiver.url]);
      expect(answer.headers.traceresponse).to.match(TRACEPARENT);
      expect(modules.some((m) => m.includes('@opentelemetry/sdk-node'))).to.equal(true);
      expect(modules.some((m) => m.includes('@opentelemetry/api'))).to.equal(true);
      expect(receiver.spans).to.have.length(1);
    });
  });
});
