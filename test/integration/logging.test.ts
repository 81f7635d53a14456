import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startPounce, rawExchange, sleep } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

/** Run the real jq on a log file. */
function jq(filter: string, file: string, raw = false): string {
  return execFileSync('jq', [...(raw ? ['-r'] : ['-c']), filter, file], { encoding: 'utf8' });
}
/** `... | sort | uniq -c | sort -rn` as the seed writes it, through a real shell. */
function shell(cmd: string): string {
  return execFileSync('bash', ['-o', 'pipefail', '-c', cmd], { encoding: 'utf8' });
}

describe("the seed's jq recipes, on real pounce output", function () {
  let logFile: string;

  before(async function () {
    const pounce = await startPounce({
      app: 'node-hello.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--log-slow-requests-threshold', '0.3'],
    });
    // A mix: keep-alive reuse, a slow request, two disconnects.
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    for (const path of ['/a', '/b', '/c']) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await pounce.waitForEvent('ResponseCompleted', (l) => l.path === path);
    }
    socket.end();
    await fetch(`${pounce.url}/slow?ms=400`);
    for (let i = 0; i < 2; i++) {
      const s = connect(pounce.port, '127.0.0.1');
      await once(s, 'connect');
      s.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
      await sleep(50);
      s.destroy();
    }
    await pounce.waitFor(() => pounce.events('ClientDisconnected').length === 2);
    await pounce.stop();
    logFile = join(mkdtempSync(join(tmpdir(), 'pounce-jq-')), 'app.log');
    writeFileSync(logFile, pounce.stdoutText);
  });

  it('1. slow requests: select(.slow == true)', () => {
    const out = jq('select(.slow == true)', logFile).trim().split('\n').map((l) => JSON.parse(l));
    expect(out).to.have.length(1);
    expect(out[0]).to.include({ event: 'ResponseCompleted', path: '/slow', slow: true, level: 'info' });
  });

  it('2. every event of one connection, in order: select(.connection_id == N)', () => {
    const ids = jq('select(.event == "ConnectionCompleted" and .requests_served == 3) | .connection_id', logFile).trim();
    const events = jq(`select(.connection_id == ${ids} and .logger == "pounce.lifecycle") | .event`, logFile, true).trim().split('\n');
    expect(events).to.deep.equal([
      'ConnectionOpened',
      'RequestStarted',
      'ResponseCompleted',
      'RequestStarted',
      'ResponseCompleted',
      'RequestStarted',
      'ResponseCompleted',
      'ConnectionCompleted',
    ]);
  });

  it('3. disconnects counted by client_addr', () => {
    const out = shell(`cat ${logFile} | jq -r 'select(.event == "ClientDisconnected") | .client_addr' | sort | uniq -c | sort -rn`);
    expect(out.trim()).to.match(/^2 127\.0\.0\.1$/);
  });

  it('4. requests by worker_id', () => {
    const out = shell(`cat ${logFile} | jq -r 'select(.event == "ResponseCompleted") | .worker_id' | sort | uniq -c`);
    expect(out.trim()).to.match(/^4 1$/);
  });

  it('5. requests_served histogram', () => {
    const out = shell(`cat ${logFile} | jq -r 'select(.event == "ConnectionCompleted") | .requests_served' | sort -n | uniq -c`);
    const rows = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    // 2 cut connections served 0; the fetch served 1; the keep-alive one served 3.
    expect(rows).to.deep.equal([
      [2, 0],
      [1, 1],
      [1, 3],
    ]);
  });
});

describe('log levels, formats and the access log', () => {
  it('log_level info keeps only slow, disconnect and warn/error lifecycle events', async () => {
    const pounce = await startPounce({
      app: 'node-hello.js',
      args: ['--lifecycle-logging', '--log-level', 'info', '--log-slow-requests-threshold', '0.2', '--no-access-log'],
    });
    await fetch(`${pounce.url}/fast`);
    await fetch(`${pounce.url}/slow?ms=300`);
    await rawExchange(pounce.port, 'NOT HTTP\r\n\r\n');
    const s = connect(pounce.port, '127.0.0.1');
    await once(s, 'connect');
    s.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(50);
    s.destroy();
    await pounce.waitForEvent('ClientDisconnected');
    await pounce.stop();
    const seen = pounce.events().map((l) => `${l.event}:${l.level}`);
    expect(seen).to.have.members(['RequestSlow:info', 'ResponseCompleted:info', 'ConnectionCompleted:warn', 'ClientDisconnected:warn']);
    expect(pounce.events('ResponseCompleted')[0]).to.include({ path: '/slow', slow: true });
    expect(pounce.lines.filter((l) => l.logger === 'pounce.access')).to.deep.equal([]);
  });

  it('the access log: one line per request, with connection_id and worker_id; off with --no-access-log', async () => {
    const pounce = await startPounce({ app: 'node-hello.js' });
    await fetch(`${pounce.url}/a?secret=1`, { headers: { 'user-agent': 'test-agent/1.0' } });
    await fetch(`${pounce.url}/status?code=404`);
    await pounce.stop();
    const access = pounce.lines.filter((l) => l.logger === 'pounce.access');
    expect(access).to.have.length(2);
    expect(access[0]).to.include({ level: 'info', method: 'GET', path: '/a', status: 200, bytes_sent: 6, worker_id: 1, user_agent: 'test-agent/1.0', http_version: '1.1' });
    expect(access[0]!.connection_id).to.be.a('number');
    expect(access[0]!.msg).to.match(/^127\.0\.0\.1:\d+ - "GET \/a HTTP\/1\.1" 200$/);
    expect(access[1]).to.include({ status: 404, path: '/status' });
    // No lifecycle lines unless asked for.
    expect(pounce.events()).to.deep.equal([]);
  });

  // Lines reuse what a connection's requests repeat (event-line.ts repeat): each line must still be its own request's.
  for (const format of ['json', 'text'] as const) {
    it(`${format}: on one keep-alive connection, every access and lifecycle line is its own request's, whichever field changed`, async () => {
      const pounce = await startPounce({
        app: 'node-hello.js',
        rawFormat: format === 'text',
        args: ['--lifecycle-logging', '--log-level', 'debug', '--log-format', format],
      });
      const requests: Array<{ method: string; target: string; path: string; status: number; ua: string }> = [
        { method: 'GET', target: '/status?code=200', path: '/status', status: 200, ua: 'a/1' },
        { method: 'GET', target: '/status?code=200', path: '/status', status: 200, ua: 'a/1' },
        { method: 'POST', target: '/status?code=200', path: '/status', status: 200, ua: 'a/1' },
        { method: 'POST', target: '/status?code=201', path: '/status', status: 201, ua: 'b/2' },
        { method: 'GET', target: '/a%22b', path: '/a%22b', status: 200, ua: 'b/2' },
        { method: 'GET', target: '/status?code=404', path: '/status', status: 404, ua: 'b/2' },
        { method: 'GET', target: '/status?code=200', path: '/status', status: 200, ua: 'a/1' },
      ];
      const socket = connect(pounce.port, '127.0.0.1');
      await once(socket, 'connect');
      const port = socket.localPort;
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      for (const [i, r] of requests.entries()) {
        socket.write(`${r.method} ${r.target} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${r.ua}\r\nContent-Length: 0\r\n\r\n`);
        // One at a time: each response in before the next request goes out.
        for (let wait = 0; received.split('HTTP/1.1 ').length - 1 < i + 1; wait++) {
          if (wait > 500) throw new Error(`no response to request ${i}: ${received}`);
          await sleep(10);
        }
      }
      socket.end();
      await pounce.stop();
      const fieldsOf = (line: string): Record<string, string> =>
        Object.fromEntries([...line.matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => [m[1]!, m[2]!.startsWith('"') ? JSON.parse(m[2]!) : m[2]!]));
      const lines: Array<Record<string, unknown>> =
        format === 'json'
          ? pounce.lines
          : pounce.stdoutText
              .trim()
              .split('\n')
              .map((l) => ({ ...fieldsOf(l), logger: /pounce\.\w+/.exec(l)![0], msg: / pounce\.access (.*?)  worker_id/.exec(l)?.[1] }));
      const access = lines.filter((l) => l.logger === 'pounce.access');
      const started = lines.filter((l) => l.event === 'RequestStarted');
      const completed = lines.filter((l) => l.event === 'ResponseCompleted');
      expect(access).to.have.length(requests.length);
      expect(started).to.have.length(requests.length);
      expect(completed).to.have.length(requests.length);
      const n = (v: unknown) => (format === 'json' ? v : String(v));
      requests.forEach((r, i) => {
        const bytes = r.path === '/status' ? `status ${r.status}\n`.length : 6;
        expect(access[i], `access ${i}`).to.include({ method: r.method, path: r.path, status: n(r.status), bytes_sent: n(bytes), user_agent: r.ua, http_version: '1.1' });
        expect(access[i]!.msg, `access msg ${i}`).to.equal(`127.0.0.1:${port} - "${r.method} ${r.path} HTTP/1.1" ${r.status}`);
        expect(started[i], `started ${i}`).to.include({ method: r.method, path: r.path, http_version: '1.1' });
        expect(completed[i], `completed ${i}`).to.include({ method: r.method, path: r.path, status: n(r.status), bytes_sent: n(bytes) });
      });
      expect(new Set(access.map((l) => l.connection_id)).size).to.equal(1);
    });
  }

  it('text format: one line per event, time, level, logger, message, then key=value', async () => {
    const pounce = await startPounce({
      app: 'node-hello.js',
      rawFormat: true,
      args: ['--lifecycle-logging', '--log-level', 'debug', '--log-slow-requests-threshold', '0.2'],
    });
    await fetch(`${pounce.url}/slow?ms=250`);
    await fetch(`${pounce.url}/throw`);
    await pounce.stop();
    const lines = pounce.stdoutText.trim().split('\n');
    const completed = lines.find((l) => l.includes('event=ResponseCompleted') && l.includes('path=/slow'))!;
    expect(completed).to.match(
      /^\d\d:\d\d:\d\d\.\d{3} INFO  pounce\.lifecycle Response completed  worker_id=1 event=ResponseCompleted connection_id=\d+ method=GET path=\/slow status=200 bytes_sent=10 duration_ms=[\d.]+ slow=true$/,
    );
    expect(lines.find((l) => l.includes('event=RequestStarted'))).to.match(/^\d\d:\d\d:\d\d\.\d{3} DEBUG pounce\.lifecycle Request started  /);
    // An error with a stack stays on one line.
    const error = lines.find((l) => l.includes('ERROR pounce.app'))!;
    expect(error).to.include('boom from app').and.include('\\n    at ');
    expect(lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR|FATAL) pounce\./.test(l)), lines.join('\n')).to.equal(true);
  });

  it('a failing health check is logged when the app answers the health path; a passing one is not', async () => {
    const pounce = await startPounce({
      app: 'health-passthrough.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--health-check-path', '/health', '--health-check-passthrough', '--keep-alive-timeout', '0.3'],
    });
    expect((await fetch(`${pounce.url}/health`)).status).to.equal(200);
    await fetch(`${pounce.url}/fail-health`);
    expect((await fetch(`${pounce.url}/health`)).status).to.equal(500);
    await pounce.waitFor(() => pounce.events('ConnectionCompleted').length === 2);
    await pounce.stop();
    const healthLines = pounce.lines.filter((l) => l.path === '/health');
    expect(healthLines.map((l) => `${l.logger}:${l.event ?? ''}:${l.status ?? ''}`)).to.deep.equal([
      'pounce.lifecycle:RequestStarted:',
      'pounce.lifecycle:ResponseCompleted:500',
      'pounce.access::500',
    ]);
    // The passing check's connection left nothing at all.
    const connections = new Set(pounce.events().map((l) => l.connection_id));
    expect(connections.size).to.equal(2);
    expectValidLifecycleLines(pounce.lines);
  });
});
