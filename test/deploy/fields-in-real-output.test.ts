// The shipped configs against pounce's REAL output: run the bundled example app
// (the one the Docker image serves) with tracing on, drive every lifecycle event,
// and check that each field the configs and documented queries read exists in
// the real lines with the type the configs assume, and that the timestamp
// layouts and Grafana's derived-field regexes match real lines.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { CLI, startPounce, type LogLine, type PounceProcess } from '../helpers/pounce.js';
import {
  fieldsReadByShippedConfigs,
  fieldsReadPerSource,
  fieldTypesAssumedByShippedConfigs,
  goLayoutRegex,
  repoRoot,
  strptimeRegex,
  type FieldType,
} from './shipped-fields.js';

type Obj = Record<string, unknown>;
const readYaml = (rel: string): Obj => YAML.parse(readFileSync(path.join(repoRoot, rel), 'utf8')) as Obj;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function hasType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
  }
}

/** GET that resolves with the status once the whole body has arrived. */
function fetchText(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { 'user-agent': 'pounce-deploy-test/1.0' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

/** Starts a streaming GET and drops the connection after the first body chunk. */
function disconnectMidStream(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
  });
}

describe('deploy: the fields the shipped configs read exist in real pounce output', function () {
  this.timeout(30_000);

  let collector: Server;
  let spans = 0;
  let pounce: PounceProcess;
  let lines: LogLine[] = [];
  const fieldsRead = fieldsReadByShippedConfigs();

  before(async function () {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    // a stand-in OTLP/HTTP collector on loopback, so pounce traces and its lines carry trace ids
    collector = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/v1/traces') spans++;
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

    // the Docker image's settings (env), plus debug level, a short slow threshold and tracing
    pounce = await startPounce({
      app: 'examples/hello.js',
      env: {
        POUNCE_LOG_FORMAT: 'json',
        POUNCE_LIFECYCLE_LOGGING: 'true',
        POUNCE_HEALTH_CHECK_PATH: '/health',
        POUNCE_LOG_LEVEL: 'debug',
        POUNCE_LOG_SLOW_REQUESTS_THRESHOLD: '0.3',
        POUNCE_OTEL_ENDPOINT: collectorUrl,
        OTEL_SERVICE_NAME: 'pounce',
      },
    });
    expect(await fetchText(`${pounce.url}/`)).to.equal(200);
    expect(await fetchText(`${pounce.url}/health`)).to.equal(200);
    expect(await fetchText(`${pounce.url}/slow?ms=700`)).to.equal(200);
    await disconnectMidStream(`${pounce.url}/events`);
    await pounce.waitForEvent('ClientDisconnected', () => true, 10_000);
    await pounce.waitForEvent('ConnectionCompleted', () => true, 10_000);
    const exit = await pounce.stop();
    expect(exit.code, `pounce exit; stderr: ${pounce.stderr}`).to.equal(0);
    lines = pounce.lines;
    expect(pounce.nonJson, 'every stdout line is JSON').to.deep.equal([]);
  });

  after(() => {
    collector?.close();
  });

  it('drove every lifecycle event, traced', () => {
    const events = new Set(lines.filter((l) => l.logger === 'pounce.lifecycle').map((l) => l.event));
    expect([...events]).to.include.members(['ConnectionOpened', 'RequestStarted', 'ResponseCompleted', 'RequestSlow', 'ClientDisconnected', 'ConnectionCompleted']);
    expect(lines.some((l) => l.logger === 'pounce.access')).to.equal(true);
    expect(spans, 'spans reached the collector').to.be.greaterThan(0);
  });

  it('every field a shipped config or documented query reads is in the real output', () => {
    const missing = fieldsRead.filter((f) => !lines.some((l) => f in l));
    const readers = (f: string): string => fieldsReadPerSource().filter((s) => s.fields.includes(f)).map((s) => s.source).slice(0, 3).join('; ');
    expect(missing, missing.map((f) => `${f} (read by ${readers(f)})`).join('\n')).to.deep.equal([]);
  });

  it('every such field has the type the configs assume (index template, Datadog, LogQL unwrap), on every line', () => {
    const types = fieldTypesAssumedByShippedConfigs();
    const pounceLines = lines.filter((l) => l.logger === 'pounce.lifecycle' || l.logger === 'pounce.access');
    for (const f of fieldsRead) {
      const type = types[f];
      expect(type, `type of ${f}`).to.not.equal(undefined);
      for (const l of pounceLines) {
        // The access line writes user_agent: null for a request without a User-Agent header (here the
        // disconnecting client's); Elasticsearch, Datadog and Loki's json parser all take null as absent.
        if (f === 'user_agent' && l[f] === null && l.logger === 'pounce.access') continue;
        if (f in l) expect(hasType(l[f], type as FieldType), `${f} should be ${type} in ${JSON.stringify(l)}`).to.equal(true);
      }
    }
  });

  it('slow is the boolean true, only on slow responses (Kibana `slow: true`, LogQL `slow = "true"`)', () => {
    const slow = lines.filter((l) => 'slow' in l);
    expect(slow.length).to.be.greaterThan(0);
    for (const l of slow) {
      expect(l.slow).to.equal(true);
      expect(l.event).to.equal('ResponseCompleted');
      expect(l.level).to.equal('info');
    }
  });

  it('label fields stay low-cardinality: event, level and logger take a handful of values', () => {
    for (const f of ['event', 'level', 'logger']) {
      const values = new Set(lines.map((l) => l[f]).filter((v) => v !== undefined));
      expect(values.size, `${f}: ${[...values].join(', ')}`).to.be.within(1, 16);
    }
    expect(new Set(lines.map((l) => l.level))).to.satisfy((s: Set<string>) => [...s].every((v) => ['debug', 'info', 'warn', 'error'].includes(v)));
  });

  it('every timestamp parses with the layouts the shippers use (RFC3339Nano, Filebeat Go layout, OTel strptime)', () => {
    const filebeat = arr(readYaml('deploy/filebeat/filebeat.yml')['processors']).map((p) => obj(obj(p)['timestamp'])).find((t) => t['field']);
    const goLayouts = (arr(filebeat?.['layouts']) as string[]).map(goLayoutRegex);
    const otel = arr(obj(obj(readYaml('otel/collector-logs.yaml')['receivers'])['filelog/pounce'])['operators']).map(obj).find((o) => o['type'] === 'json_parser');
    const strptime = strptimeRegex(obj(otel?.['timestamp'])['layout'] as string);
    for (const l of lines) {
      expect(l.timestamp, JSON.stringify(l)).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(l.timestamp).to.match(strptime);
      expect(goLayouts.some((re) => re.test(l.timestamp as string)), `Filebeat layouts parse ${l.timestamp}`).to.equal(true);
      expect(Number.isNaN(Date.parse(l.timestamp as string))).to.equal(false);
    }
  });

  it("Grafana's derived fields find the real trace_id and connection_id in the raw lines", () => {
    const ds = arr(readYaml('deploy/grafana/provisioning/datasources/datasources.yaml')['datasources']).map(obj);
    const derived = arr(obj(ds.find((d) => d['uid'] === 'loki')?.['jsonData'])['derivedFields']).map(obj);
    const traceRe = new RegExp(derived.find((d) => d['name'] === 'trace_id')?.['matcherRegex'] as string);
    const connRe = new RegExp(derived.find((d) => d['name'] === 'connection_id')?.['matcherRegex'] as string);
    const raw = pounce.stdoutText.split('\n').filter((s) => s.trim() !== '');
    const traced = raw.filter((s) => (JSON.parse(s) as LogLine).trace_id !== undefined);
    expect(traced.length, 'traced lines').to.be.greaterThan(0);
    for (const s of traced) {
      const line = JSON.parse(s) as LogLine;
      expect(traceRe.exec(s)?.[1], s).to.equal(line.trace_id);
      expect(line.trace_id).to.match(/^[0-9a-f]{32}$/);
      expect(line.span_id).to.match(/^[0-9a-f]{16}$/);
      expect(line.trace_flags).to.match(/^[0-9a-f]{2}$/);
    }
    for (const s of raw.filter((x) => (JSON.parse(x) as LogLine).logger === 'pounce.lifecycle')) {
      expect(connRe.exec(s)?.[1], s).to.equal(String((JSON.parse(s) as LogLine).connection_id));
    }
  });

  it('health checks leave no line (the probes the chart points at healthCheckPath stay out of the logs)', () => {
    expect(lines.filter((l) => l.path === '/health')).to.deep.equal([]);
  });
});
