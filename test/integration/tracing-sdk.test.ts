import { expect } from 'chai';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIXTURES, ROOT, startPounce, sleep, type LogLine, type PounceProcess } from '../helpers/pounce.js';
import {
  SPAN_KIND,
  startOtlpGrpcReceiver,
  startOtlpReceiver,
  type Encoding,
  type OtlpReceiver,
  type ReceivedSpan,
  withReceiver,
} from '../helpers/otlp-receiver.js';

interface Answer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolvePromise({ status: res.statusCode!, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A server the app calls: remembers the trace headers it was sent. */
async function startDownstream(): Promise<{ url: string; headers: IncomingHttpHeaders[]; server: Server }> {
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    headers.push(req.headers);
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, headers, server };
}

const PRELOAD = resolve(FIXTURES, 'tracing-sdk-preload.mjs');
const servers = (spans: ReceivedSpan[]) => spans.filter((s) => s.kind === SPAN_KIND.SERVER);
const warnings = (p: PounceProcess) => p.lines.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal');

/** The log lines of one request carry exactly the ids of this span. */
function expectLogIds(p: PounceProcess, span: ReceivedSpan, path: string): LogLine[] {
  const lines = p.lines.filter((l) => l.path === path || (l.logger === 'pounce.app' && l.trace_id === span.traceId));
  expect(lines.length, `log lines of ${path}`).to.be.at.least(3);
  for (const line of lines) expect(line, JSON.stringify(line)).to.include({ trace_id: span.traceId, span_id: span.spanId });
  return lines;
}

describe('tracing on a team’s own SDK (preloaded with --import: NodeSDK, instrumentation-http, instrumentation-undici)', function () {
  let receiver: OtlpReceiver;
  let downstream: Awaited<ReturnType<typeof startDownstream>>;
  let pounce: PounceProcess;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pounce-preload-'));
    receiver = await startOtlpReceiver();
    downstream = await startDownstream();
    pounce = await startPounce({
      app: 'tracing-express.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--health-check-path', '/health'],
      env: {
        NODE_OPTIONS: `--import=${PRELOAD}`,
        PRELOAD_LOG: join(dir, 'preload.log'),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: 'team-api',
        OTEL_BSP_SCHEDULE_DELAY: '50',
        DOWNSTREAM_URL: downstream.url,
      },
    });
  });

  after(async () => {
    await pounce.stop();
    await receiver.close();
    downstream.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one SERVER span per request — instrumentation-http’s, decorated by pounce, named by the Express route; the logs carry its ids', async () => {
    const answer = await get(`${pounce.url}/api/users/7?q=1`);
    expect(answer.status).to.equal(200);
    const spans = await receiver.waitFor((all) => all.some((s) => s.kind === SPAN_KIND.SERVER && s.attributes['url.path'] === '/api/users/7'), 5000);
    await sleep(200);
    const server = servers(spans).filter((s) => s.attributes['url.path'] === '/api/users/7');
    expect(server, 'exactly one SERVER span').to.have.length(1);
    const span = server[0]!;
    expect(span.scope.name).to.equal('@opentelemetry/instrumentation-http');
    expect(span.name).to.equal('GET /api/users/:id');
    expect(span.attributes).to.include({ 'http.route': '/api/users/:id', 'pounce.worker_id': 1, 'http.response.status_code': 200 });
    expect(span.attributes['pounce.connection_id']).to.be.a('number');
    expect(answer.headers.traceresponse).to.equal(`00-${span.traceId}-${span.spanId}-01`);
    const lines = expectLogIds(pounce, span, '/api/users/7');
    expect(lines.map((l) => l.event ?? l.logger)).to.include.members(['RequestStarted', 'ResponseCompleted', 'pounce.access', 'pounce.app']);
  });

  it('the CLIENT span of the app’s fetch (instrumentation-undici) is a child of the SERVER span, and the downstream server continues the trace', async () => {
    const answer = await get(`${pounce.url}/api/users/8`);
    const traceId = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(answer.headers.traceresponse as string)![1]!;
    const spans = await receiver.waitFor((all) => all.filter((s) => s.traceId === traceId).length >= 2, 5000);
    const trace = spans.filter((s) => s.traceId === traceId);
    const server = trace.find((s) => s.kind === SPAN_KIND.SERVER)!;
    const client = trace.find((s) => s.kind === SPAN_KIND.CLIENT)!;
    expect(client.parentSpanId).to.equal(server.spanId);
    expect(downstream.headers.at(-1)!.traceparent).to.equal(`00-${traceId}-${client.spanId}-01`);
  });

  it('one resource for every span (the team’s service name); no warn line; health checks untraced (ignoreIncomingRequestHook); the preload ran once', async () => {
    for (let i = 0; i < 3; i++) expect((await get(`${pounce.url}/health`)).status).to.equal(200);
    await get(`${pounce.url}/plain`);
    await receiver.waitFor((all) => all.some((s) => s.attributes['url.path'] === '/plain'), 5000);
    await sleep(200);
    expect(receiver.spans.filter((s) => s.attributes['url.path'] === '/health')).to.deep.equal([]);
    expect(new Set(receiver.spans.map((s) => JSON.stringify(s.resource))).size).to.equal(1);
    expect(receiver.spans[0]!.resource['service.name']).to.equal('team-api');
    expect(receiver.spans.filter((s) => s.scope.name === 'pounce'), 'pounce made no span of its own').to.deep.equal([]);
    expect(warnings(pounce)).to.deep.equal([]);
    expect(pounce.stderr).to.equal('');
    expect(pounce.nonJson).to.deep.equal([]);
    expect(pounce.lines.find((l) => l.event === 'TracingEnabled')).to.include({ sdk: 'registered' });
    // The log writer thread does not run the preload again: one line, the main thread (0).
    expect(readFileSync(join(dir, 'preload.log'), 'utf8').trim().split('\n')).to.deep.equal([`${pounce.proc.pid} 0`]);
  });
});

describe('tracing on an SDK the app starts itself (NodeSDK in-process, instrumentation-undici)', function () {
  it('pounce’s SERVER span on the app’s provider: one resource, the CLIENT span nested, no warn line, logs carry the ids', async () => {
    await withReceiver(async (receiver) => {
      const downstream = await startDownstream();
      try {
        const pounce = await startPounce({
          app: 'tracing-sdk-app.js',
          args: ['--lifecycle-logging', '--log-level', 'debug'],
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'checkout', OTEL_BSP_SCHEDULE_DELAY: '50', DOWNSTREAM_URL: downstream.url },
        });
        expect((await get(`${pounce.url}/orders/1`)).status).to.equal(200);
        const spans = await receiver.waitFor((all) => all.length >= 2, 5000);
        await pounce.stop();
        const server = servers(spans);
        expect(server).to.have.length(1);
        expect(server[0]!.scope.name).to.equal('pounce');
        const client = spans.find((s) => s.kind === SPAN_KIND.CLIENT)!;
        expect(client.parentSpanId).to.equal(server[0]!.spanId);
        expect(client.traceId).to.equal(server[0]!.traceId);
        expect(new Set(spans.map((s) => JSON.stringify(s.resource))).size).to.equal(1);
        expect(spans[0]!.resource['service.name']).to.equal('checkout');
        expectLogIds(pounce, server[0]!, '/orders/1');
        expect(warnings(pounce)).to.deep.equal([]);
        expect(pounce.stderr).to.equal('');
        expect(pounce.lines.find((l) => l.event === 'TracingEnabled')).to.include({ sdk: 'registered' });
      } finally {
        downstream.server.close();
      }
    });
  });
});

describe('tracing: pounce’s own NodeSDK honours OTEL_EXPORTER_OTLP_PROTOCOL', function () {
  for (const protocol of ['http/protobuf', 'http/json', 'grpc'] as Encoding[]) {
    it(`${protocol}: spans reach the receiver in that encoding; the logs carry the exported span’s ids`, async () => {
      await withReceiver(async (receiver) => {
        const pounce = await startPounce({
          app: 'tracing-fetch.js',
          args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug'],
          env: { OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '50' },
        });
        expect((await get(`${pounce.url}/users/5`)).status).to.equal(200);
        const spans = await receiver.waitFor((all) => all.length >= 1, 5000);
        await pounce.stop();
        expect(receiver.encodings.every((e) => e === protocol), JSON.stringify(receiver.encodings)).to.equal(true);
        expect(spans[0]).to.include({ name: 'GET /users/:id', kind: SPAN_KIND.SERVER });
        expect(spans[0]!.resource).to.include({ 'service.name': 'pounce', 'host.arch': spans[0]!.resource['host.arch'] });
        expect(spans[0]!.resource).to.have.property('process.runtime.description');
        expectLogIds(pounce, spans[0]!, '/users/5');
        expect(warnings(pounce)).to.deep.equal([]);
        expect(pounce.lines.find((l) => l.event === 'TracingEnabled')).to.include({ sdk: 'pounce', protocol });
      }, () => (protocol === 'grpc' ? startOtlpGrpcReceiver() : startOtlpReceiver()));
    });
  }

  it('a gRPC port with an http protocol gets a start-up warning', async () => {
    const pounce = await startPounce({ app: 'tracing-plain.js', args: ['--otel-endpoint', 'http://127.0.0.1:4317'], env: { OTEL_BSP_SCHEDULE_DELAY: '60000' } });
    await pounce.stop();
    const warned = pounce.lines.filter((l) => l.event === 'TracingMisconfigured');
    expect(warned).to.have.length(1);
    expect(warned[0]!.msg).to.match(/port 4317 \(OTLP\/gRPC\) but the protocol is http\/protobuf/);
  });
});

describe('tracing: OTEL_PROPAGATORS on pounce’s own SDK', function () {
  const traceId = '80f198ee56343ba864fe8b2a57d3eff7';
  const parentId = 'e457b5a2e4d86bd1';
  const cases: Array<[string, Record<string, string>]> = [
    ['b3', { b3: `${traceId}-${parentId}-1` }],
    ['b3multi', { 'x-b3-traceid': traceId, 'x-b3-spanid': parentId, 'x-b3-sampled': '1' }],
    ['jaeger', { 'uber-trace-id': `${traceId}:${parentId}:0:1` }],
  ];
  for (const [propagators, headers] of cases) {
    it(`${propagators}: an incoming trace is continued; the logs carry pounce’s span ids`, async () => {
      await withReceiver(async (receiver) => {
        const pounce = await startPounce({
          app: 'tracing-fetch.js',
          args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug'],
          env: { OTEL_PROPAGATORS: propagators, OTEL_BSP_SCHEDULE_DELAY: '50' },
        });
        await get(`${pounce.url}/propagated`, headers);
        const spans = await receiver.waitFor((all) => all.length >= 1, 5000);
        await pounce.stop();
        expect(spans[0]).to.include({ traceId, parentSpanId: parentId });
        expectLogIds(pounce, spans[0]!, '/propagated');
      });
    });
  }

  it('none: a traceparent is ignored, the trace starts fresh', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-fetch.js',
        args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug'],
        env: { OTEL_PROPAGATORS: 'none', OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      await get(`${pounce.url}/fresh`, { traceparent: `00-${traceId}-${parentId}-01` });
      const spans = await receiver.waitFor((all) => all.length >= 1, 5000);
      await pounce.stop();
      expect(spans[0]!.traceId).to.not.equal(traceId);
      expect(spans[0]!.parentSpanId).to.equal('');
      expectLogIds(pounce, spans[0]!, '/fresh');
    });
  });
});

describe('tracing: --tracing auto|on|off', function () {
  it('off: no span and no ids even with an endpoint; POUNCE_OTEL_ENDPOINT= (empty) is off too', async () => {
    await withReceiver(async (receiver) => {
      for (const { args, env } of [
        { args: ['--otel-endpoint', receiver.url, '--tracing', 'off'], env: {} },
        { args: [], env: { POUNCE_OTEL_ENDPOINT: '', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } },
      ]) {
        const pounce = await startPounce({ app: 'tracing-plain.js', args: ['--lifecycle-logging', '--log-level', 'debug', ...args], env: { OTEL_BSP_SCHEDULE_DELAY: '50', ...env } });
        const answer = await get(`${pounce.url}/`);
        await pounce.stop();
        expect(answer.headers.traceresponse).to.equal(undefined);
        expect(pounce.lines.filter((l) => l.trace_id !== undefined || l.event === 'TracingEnabled')).to.deep.equal([]);
      }
      expect(receiver.exports).to.equal(0);
    });
  });

  it('off with the team’s preloaded SDK: its instrumentation still traces, pounce adds nothing', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-express.js',
        args: ['--lifecycle-logging', '--log-level', 'debug', '--tracing', 'off'],
        env: { NODE_OPTIONS: `--import=${PRELOAD}`, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      await get(`${pounce.url}/plain`);
      const spans = await receiver.waitFor((all) => all.length >= 1, 5000);
      await pounce.stop();
      expect(spans[0]!.attributes).to.not.have.property('pounce.connection_id');
      expect(pounce.lines.filter((l) => l.trace_id !== undefined)).to.deep.equal([]);
    });
  });
});

describe('tracing: semantic conventions and routes', function () {
  it('url.query, client.port, network.peer.*; Express routes (under a router’s baseUrl) and Fastify routes name the span', async () => {
    await withReceiver(async (receiver) => {
      const express = await startPounce({ app: 'tracing-express.js', args: ['--otel-endpoint', receiver.url], env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
      await get(`${express.url}/api/users/3?page=2&Signature=abc`);
      await get(`${express.url}/items/9/parts/4`);
      await get(`${express.url}/plain`);
      await express.stop();
      const fastify = await startPounce({ app: 'tracing-fastify.js', args: ['--otel-endpoint', receiver.url], env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
      await get(`${fastify.url}/items/12`);
      await fastify.stop();
      const byPath = new Map(receiver.spans.map((s) => [s.attributes['url.path'], s]));
      const user = byPath.get('/api/users/3')!;
      expect(user.name).to.equal('GET /api/users/:id');
      expect(user.attributes).to.include({ 'http.route': '/api/users/:id', 'url.query': 'page=2&Signature=REDACTED', 'network.peer.address': '127.0.0.1' });
      expect(user.attributes['client.port']).to.equal(user.attributes['network.peer.port']);
      expect(byPath.get('/items/9/parts/4')!.name).to.equal('GET /items/:item/parts/:part');
      expect(byPath.get('/plain')!.name).to.equal('GET /plain');
      expect(byPath.get('/items/12')!.name).to.equal('GET /items/:id');
    });
  });

  it('Koa and Hono: the one-middleware setRoute the README shows names the span', async () => {
    await withReceiver(async (receiver) => {
      for (const [app, path] of [['tracing-koa.js', '/orders/5'], ['tracing-hono.js', '/books/978']] as const) {
        const pounce = await startPounce({ app, args: ['--otel-endpoint', receiver.url], env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
        expect((await get(`${pounce.url}${path}`)).status).to.equal(200);
        await pounce.stop();
      }
      const byPath = new Map(receiver.spans.map((s) => [s.attributes['url.path'], s]));
      expect(byPath.get('/orders/5')!.name).to.equal('GET /orders/:id');
      expect(byPath.get('/books/978')!.attributes['http.route']).to.equal('/books/:isbn');
    });
  });

  it('OTEL_ATTRIBUTE_COUNT_LIMIT=3 keeps http.response.status_code', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({ app: 'tracing-fetch.js', args: ['--otel-endpoint', receiver.url], env: { OTEL_ATTRIBUTE_COUNT_LIMIT: '3', OTEL_BSP_SCHEDULE_DELAY: '50' } });
      await get(`${pounce.url}/users/1`);
      const spans = await receiver.waitFor((all) => all.length >= 1, 5000);
      await pounce.stop();
      expect(Object.keys(spans[0]!.attributes)).to.have.length(3);
      expect(spans[0]!.attributes).to.include({ 'http.request.method': 'GET', 'http.response.status_code': 200 });
    });
  });
});

describe('tracing: an app with its own copy of @opentelemetry/api', function () {
  it('its module-level tracer still makes spans that nest under pounce’s (the API’s globals are shared by major version)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pounce-own-api-'));
    const receiver = await startOtlpReceiver();
    try {
      mkdirSync(join(dir, 'node_modules/@opentelemetry'), { recursive: true });
      cpSync(join(ROOT, 'node_modules/@opentelemetry/api'), join(dir, 'node_modules/@opentelemetry/api'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{"name":"own-api-app","type":"module"}');
      writeFileSync(
        join(dir, 'app.js'),
        `import { trace } from '@opentelemetry/api';
const tracer = trace.getTracer('own-api-app');
export default function app(req, res) {
  tracer.startActiveSpan('app.own-api', (span) => { span.end(); res.end(span.spanContext().spanId); });
}
`,
      );
      const pounce = await startPounce({ app: join(dir, 'app.js'), args: ['--otel-endpoint', receiver.url], env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
      const answer = await get(`${pounce.url}/x`);
      const spans = await receiver.waitFor((all) => all.length >= 2, 5000);
      await pounce.stop();
      const app = spans.find((s) => s.name === 'app.own-api')!;
      const server = spans.find((s) => s.kind === SPAN_KIND.SERVER)!;
      expect(app.spanId).to.equal(answer.body);
      expect(app.parentSpanId).to.equal(server.spanId);
      expect(server.resource['service.name']).to.equal('own-api-app');
    } finally {
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tracing: errors and cuts', function () {
  it('an app error under instrumentation-http: its SERVER span records the exception and error.type', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-fetch.js',
        args: ['--lifecycle-logging', '--log-level', 'debug'],
        env: { NODE_OPTIONS: `--import=${PRELOAD}`, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      expect((await get(`${pounce.url}/throw`)).status).to.equal(500);
      const spans = await receiver.waitFor((all) => all.length >= 1, 5000);
      await pounce.stop();
      const span = servers(spans)[0]!;
      expect(span.scope.name).to.equal('@opentelemetry/instrumentation-http');
      expect(span.status.code).to.equal(2);
      expect(span.attributes).to.include({ 'error.type': 'TypeError', 'http.response.status_code': 500 });
      expect(span.events.find((e) => e.name === 'exception')?.attributes).to.include({ 'exception.type': 'TypeError', 'exception.message': 'fetch boom' });
      expectLogIds(pounce, span, '/throw');
    });
  });

  it('a request the server cuts (shutdown timeout): error.type says why, no client.disconnected event, same ids as RequestAborted', async () => {
    await withReceiver(async (receiver) => {
      const pounce = await startPounce({
        app: 'tracing-fetch.js',
        args: ['--otel-endpoint', receiver.url, '--lifecycle-logging', '--log-level', 'debug', '--shutdown-timeout', '0.3'],
        env: { OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      const req = request(`${pounce.url}/hang`, { agent: false });
      req.on('error', () => {});
      req.end();
      await pounce.waitForEvent('RequestStarted', (l) => l.path === '/hang');
      await pounce.stop('SIGTERM');
      const aborted = pounce.lines.find((l) => l.event === 'RequestAborted');
      expect(aborted, 'RequestAborted line').to.not.equal(undefined);
      const span = receiver.spans.find((s) => s.spanId === aborted!.span_id)!;
      expect(span, 'the cut request’s span was flushed at shutdown').to.not.equal(undefined);
      expect(span.attributes['error.type']).to.equal(aborted!.cause);
      expect(span.status.code).to.equal(2);
      expect(span.events.map((e) => e.name)).to.not.include('client.disconnected');
    });
  });
});
