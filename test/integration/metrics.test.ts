import { expect } from 'chai';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPounce, sleep, type PounceProcess, freePort } from '../helpers/pounce.js';

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

describe('Prometheus metrics, scraped by a real Prometheus', function () {
  let pounce: PounceProcess;
  let prometheus: ChildProcess;
  let promUrl: string;

  before(async function () {
    try {
      execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('prometheus is not installed: npm test installs it (pretest: node test/tools/ensure.mjs)');
    }
    pounce = await startPounce({ app: 'node-hello.js', args: ['--metrics-path', '/metrics', '--log-slow-requests-threshold', '0.2'] });
    for (let i = 0; i < 3; i++) await (await fetch(`${pounce.url}/ok`)).text();
    await (await fetch(`${pounce.url}/status?code=404`)).text();
    await (await fetch(`${pounce.url}/slow?ms=300`)).text();
    const s = connect(pounce.port, '127.0.0.1');
    await once(s, 'connect');
    s.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    s.destroy();

    const dir = mkdtempSync(join(tmpdir(), 'pounce-prom-'));
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pounce\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:${pounce.port}']\n`,
    );
    prometheus = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
      { stdio: 'ignore' },
    );
  });

  after(async () => {
    prometheus?.kill('SIGTERM');
    if (pounce) await pounce.stop();
  });

  async function query(q: string): Promise<PromResult[]> {
    for (let i = 0; i < 80; i++) {
      try {
        const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { data: { result: PromResult[] } };
        if (body.data.result.length > 0) return body.data.result;
      } catch {
        // Prometheus is still starting.
      }
      await sleep(250);
    }
    throw new Error(`Prometheus returned nothing for ${q}`);
  }

  it('the target is up and requests are counted by status code', async () => {
    const up = await query('up{job="pounce"} == 1');
    expect(up).to.have.length(1);
    const byStatus = await query('sum by (status_code) (pounce_http_requests_total{method="GET"})');
    const counts = Object.fromEntries(byStatus.map((r) => [r.metric.status_code, Number(r.value[1])]));
    expect(counts).to.deep.equal({ '200': 4, '404': 1 });
  });

  it('durations, slow requests, disconnects and close reasons agree with what happened', async () => {
    const slowBucket = await query('pounce_http_request_duration_seconds_bucket{le="0.25",status_code="200"}');
    const count = await query('pounce_http_request_duration_seconds_count{status_code="200"}');
    expect(Number(count[0]!.value[1]) - Number(slowBucket[0]!.value[1]), 'one request over 0.25 s').to.equal(1);
    expect(Number((await query('pounce_http_slow_requests_total'))[0]!.value[1])).to.equal(1);
    expect(Number((await query('pounce_http_client_disconnects_total'))[0]!.value[1])).to.equal(1);
    const reasons = await query('pounce_connections_total');
    const byReason = Object.fromEntries(reasons.map((r) => [r.metric.reason, Number(r.value[1])]));
    expect(byReason.client_disconnect).to.equal(1);
    expect(byReason.complete).to.be.at.least(1);
    const worker = await query('pounce_http_requests_in_flight');
    expect(worker[0]!.metric.worker_id).to.equal('1');
    expect(Number(worker[0]!.value[1])).to.equal(0);
    // Default Node.js process metrics come along.
    expect(await query('process_resident_memory_bytes')).to.have.length(1);
  });

  it('scrapes are not logged', () => {
    expect(pounce.lines.filter((l) => l.path === '/metrics')).to.deep.equal([]);
    const access = pounce.lines.filter((l) => l.logger === 'pounce.access');
    expect(access.filter((l) => l.complete === undefined).length, 'complete requests').to.equal(5);
    // The request the client abandoned has its line too (status 499, like nginx).
    expect(access.filter((l) => l.complete === false).map((l) => [l.status, l.ended_by])).to.deep.equal([[499, 'client']]);
  });
});

describe('metrics with several workers', () => {
  it('any worker answers a scrape with every worker\'s series', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--workers', '2', '--metrics-path', '/metrics'] });
    // Round-robin: 6 requests on fresh connections spread over both workers.
    for (let i = 0; i < 6; i++) await (await fetch(`${pounce.url}/x`, { headers: { connection: 'close' } })).text();
    const scrapes: string[] = [];
    for (let i = 0; i < 2; i++) scrapes.push(await (await fetch(`${pounce.url}/metrics`, { headers: { connection: 'close' } })).text());
    for (const text of scrapes) {
      const series = text.split('\n').filter((l) => l.startsWith('pounce_http_requests_total{'));
      const workers = new Set(series.map((l) => /worker_id="(\d+)"/.exec(l)![1]));
      expect([...workers].sort()).to.deep.equal(['1', '2']);
      const total = series.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
      expect(total).to.equal(6);
    }
    await pounce.stop();
  });
});
