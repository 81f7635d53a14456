import { expect } from 'chai';
import { JsonEventLine, TextEventLine, jsonString, Repeated, repeatedOn, type EventLine } from '../../src/observability/event-line.js';

const capture = () => {
  const lines: string[] = [];
  return { lines, sink: { write: (l: string) => lines.push(l) } };
};
const at = Date.UTC(2026, 1, 12, 10, 15, 30) + 123.456;

describe('EventLine (hand-built lifecycle and access lines)', () => {
  it('JSON: the same shape as a pino line, field order kept, a valid JSON line', () => {
    const { lines, sink } = capture();
    const line = new JsonEventLine(sink, 'pounce.lifecycle', 3);
    line.begin('debug', at, 'Response completed');
    line.word('event', 'ResponseCompleted');
    line.int('connection_id', 42);
    line.str('path', '/a');
    line.ms('duration_ms', 3500);
    line.bool('slow', true);
    line.strOrNull('user_agent', undefined);
    line.end();
    expect(lines).to.have.length(1);
    expect(lines[0]!.endsWith('}\n')).to.equal(true);
    expect(lines[0]).to.equal(
      '{"level":"debug","timestamp":"2026-02-12T10:15:30.123456Z","logger":"pounce.lifecycle","worker_id":3,"event":"ResponseCompleted","connection_id":42,"path":"/a","duration_ms":3500,"slow":true,"user_agent":null,"msg":"Response completed"}\n',
    );
  });

  it('JSON: every string escaped — quotes, backslashes, C0 and C1 controls, DEL, lone surrogates — and the line still parses', () => {
    const nasty = 'a"b\\c\n\r\t\u0000\u001f\u007f\u0085\u009b\ud800 é✓ 😀';
    expect(JSON.parse(jsonString(nasty))).to.equal(nasty);
    const escaped = jsonString(nasty);
    // No raw control character (C0, DEL, C1) survives.
    expect(/[\u0000-\u001f\u007f-\u009f]/.test(escaped)).to.equal(false);
    expect(escaped).to.include('\\u0085').and.include('\\u009b').and.include('\\u007f');
    const { lines, sink } = capture();
    const line = new JsonEventLine(sink, 'pounce.access', 1);
    line.beginRequestLine('info', at, new Repeated(), '127.0.0.1', 5, 'GET', '/a"b\\c\u0085', '1.1', 200);
    line.str('user_agent', nasty);
    line.clientTextOrNull('client_text', nasty);
    line.clientTextOrNull('absent', undefined);
    line.end();
    const parsed = JSON.parse(lines[0]!);
    // A quote inside the request line is %22: the quoted request line stays one token.
    expect(parsed.msg).to.equal('127.0.0.1:5 - "GET /a%22b\\c\u0085 HTTP/1.1" 200');
    expect(lines[0]!.slice(0, -1)).to.not.match(/[\u0000-\u001f\u007f-\u009f]/);
    expect(parsed.user_agent).to.equal(nasty);
    // What the client sent: its control characters as %XX (no control character once decoded either).
    expect(parsed.client_text).to.equal('a"b\\c%0A%0D%09%00%1F%7F%85%9B\ud800 é✓ 😀');
    expect(parsed.absent).to.equal(null);
  });

  it('text: one line, level padded, key=value with quoting when needed, no raw control character', () => {
    const { lines, sink } = capture();
    const line = new TextEventLine(sink, 'pounce.lifecycle', 1, false);
    line.begin('info', at, 'Response completed');
    line.word('event', 'ResponseCompleted');
    line.int('status', 200);
    line.ms('duration_ms', 3500);
    line.str('path', '/a b');
    line.str('user_agent', 'x\u009b[31my\n');
    line.strOrNull('absent', undefined);
    line.end();
    expect(lines[0]).to.equal(
      '10:15:30.123 INFO  pounce.lifecycle Response completed  worker_id=1 event=ResponseCompleted status=200 duration_ms=3500.0 path="/a b" user_agent="x\\u009b[31my\\n"\n',
    );
  });

  it('text: the access message escapes a quote inside the request line; colors only when asked', () => {
    const { lines, sink } = capture();
    const plain = new TextEventLine(sink, 'pounce.access', 1, false);
    plain.beginRequestLine('info', at, new Repeated(), '1.2.3.4', 5, 'GET', '/"x\\y', '1.1', 200);
    plain.clientTextOrNull('user_agent', 'curl/8 \u009b[31m');
    plain.clientTextOrNull('plain', 'curl/8');
    plain.clientTextOrNull('absent', undefined);
    plain.end();
    expect(lines[0]).to.equal('10:15:30.123 INFO  pounce.access 1.2.3.4:5 - "GET /%22x\\\\y HTTP/1.1" 200  worker_id=1 user_agent="curl/8 %9B[31m" plain=curl/8\n');
    const colored = new TextEventLine(sink, 'pounce.access', undefined, true);
    colored.begin('warn', at, 'm');
    colored.end();
    expect(lines[1]).to.equal('10:15:30.123 \x1b[33mWARN\x1b[39m  pounce.access m\n');
  });
});

describe('EventLine.repeat (runs of fields a connection repeats)', () => {
  /** An access-like line: the run of fields renders method/path/status, memoized on `conn` when asked. */
  const write = (line: EventLine, conn: { memos: unknown[] } | undefined, method: string, path: string, status: number, bytes: number) => {
    const message = conn ? repeatedOn(conn, 0) : new Repeated();
    line.beginRequestLine('info', at, message, '10.0.0.1', 7, method, path, '1.1', status);
    const fields = conn ? repeatedOn(conn, 1) : new Repeated();
    if (!line.repeat(fields, method, path, status)) {
      line.word('method', method);
      line.str('path', path);
      line.int('status', status);
      line.endRepeat(fields);
    }
    line.int('bytes_sent', bytes);
    line.end();
  };
  // Every key changes alone, then back; paths that need escaping and look alike once escaped.
  const requests: Array<[string, string, number]> = [
    ['GET', '/', 200],
    ['GET', '/', 200],
    ['POST', '/', 200],
    ['POST', '/', 200],
    ['POST', '/a"b', 200],
    ['POST', '/a%22b', 200],
    ['POST', '/a%22b', 404],
    ['GET', '/', 200],
    ['GET', '/\u00e9', 200],
    ['GET', '/\u00e9', 200],
    ['GET', '/', 304],
  ];

  for (const format of ['json', 'text'] as const) {
    const make = (sink: { write(l: string): unknown }) =>
      format === 'json' ? new JsonEventLine(sink, 'pounce.access', 1) : new TextEventLine(sink, 'pounce.access', 1, false);

    it(`${format}: a reused run writes exactly what rendering it again writes, whichever key changed`, () => {
      const memoized = capture();
      const fresh = capture();
      const a = make(memoized.sink);
      const b = make(fresh.sink);
      const conn = { memos: [] as unknown[] };
      requests.forEach(([method, path, status], i) => {
        write(a, conn, method, path, status, i);
        write(b, undefined, method, path, status, i);
      });
      expect(memoized.lines).to.deep.equal(fresh.lines);
      expect(memoized.lines[5]).to.include('/a%22b').and.include(format === 'json' ? '"status":200' : 'status=200');
      expect(memoized.lines[6]).to.include(format === 'json' ? '"status":404' : 'status=404');
      expect(memoized.lines[10]).to.include('304');
    });

    it(`${format}: two lines sharing a connection's memo never take each other's run`, () => {
      const out = capture();
      const json = new JsonEventLine(out.sink, 'pounce.access', 1);
      const text = new TextEventLine(out.sink, 'pounce.access', 1, false);
      const first = format === 'json' ? json : text;
      const second = format === 'json' ? text : json;
      const conn = { memos: [] as unknown[] };
      write(first, conn, 'GET', '/x', 200, 1);
      write(second, conn, 'GET', '/x', 200, 1);
      write(first, conn, 'GET', '/x', 200, 1);
      const jsonLines = out.lines.filter((l) => l.startsWith('{'));
      const textLines = out.lines.filter((l) => !l.startsWith('{'));
      expect(jsonLines.length + textLines.length).to.equal(3);
      for (const l of jsonLines) expect(JSON.parse(l)).to.include({ method: 'GET', path: '/x', status: 200, msg: '10.0.0.1:7 - "GET /x HTTP/1.1" 200' });
      for (const l of textLines) expect(l).to.match(/pounce\.access 10\.0\.0\.1:7 - "GET \/x HTTP\/1\.1" 200  worker_id=1 method=GET path=\/x status=200 bytes_sent=1\n$/);
    });
  }

  it('a run that throws halfway leaves no run to reuse', () => {
    const out = capture();
    const line = new JsonEventLine(out.sink, 'x', 1);
    const memo = new Repeated();
    line.begin('info', at, 'm');
    expect(line.repeat(memo, 'k0')).to.equal(false);
    line.word('a', '0');
    line.endRepeat(memo);
    line.begin('info', at, 'm');
    expect(line.repeat(memo, 'k')).to.equal(false);
    line.word('a', '1');
    // The caller failed before endRepeat: the memo holds keys but no valid run.
    line.begin('info', at, 'm');
    expect(line.repeat(memo, 'k')).to.equal(false);
    line.word('a', '2');
    line.endRepeat(memo);
    line.end();
    expect(out.lines).to.have.length(1);
    expect(JSON.parse(out.lines[0]!).a).to.equal('2');
    line.begin('info', at, 'm');
    expect(line.repeat(memo, 'k')).to.equal(true);
    line.end();
    expect(JSON.parse(out.lines[1]!).a).to.equal('2');
  });
});

describe('durations in lines', () => {
  it('are written as String(value) would write them, for any duration rounded to microseconds', async () => {
    const { roundMs } = await import('../../src/observability/clock.js');
    const { lines, sink } = capture();
    const line = new JsonEventLine(sink, 'x', 1);
    const values = [0, 3500, 0.05, 0.5, 0.005, 0.123, 0.12, 1.1, 300.00000000000006, 1e-7, -1];
    for (let i = 0; i < 20000; i++) values.push(roundMs(Math.random() * (i % 5 === 0 ? 1e5 : 10)));
    for (const v of values) {
      line.begin('info', at, 'm');
      line.ms('d', v);
      line.end();
      const out = lines.pop()!;
      expect(out.slice(out.indexOf('"d":') + 4, out.indexOf(',"msg"')), String(v)).to.equal(String(v));
    }
  });
});

describe('timestamps in lines', () => {
  it('isoTimestamp: the date of toISOString, six digits of microseconds, last microsecond of a second included', async () => {
    const { isoTimestamp } = await import('../../src/observability/clock.js');
    const base = Date.UTC(2026, 11, 31, 23, 59, 59);
    const values = [base, base + 0.0004, base + 0.001, base + 7.000001, base + 999.999, base + 999.9999999, base + 1000, base - 0.0000001];
    for (let i = 0; i < 5000; i++) values.push(base + Math.random() * 3000);
    for (const ms of values) {
      const stamp = isoTimestamp(ms);
      expect(stamp, String(ms)).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      // The stamp reads back as the same instant, to the microsecond it was cut to.
      const back = Date.parse(stamp.slice(0, 23) + 'Z') + Number('0.' + stamp.slice(23, 26));
      expect(ms - back, `${ms} -> ${stamp}`).to.be.within(-1e-6, 0.001 + 1e-6);
    }
  });

  it('textTime: the time of day with milliseconds, last microsecond of a second included', async () => {
    const { textTime } = await import('../../src/observability/clock.js');
    const base = Date.UTC(2026, 1, 12, 10, 15, 30);
    for (const ms of [base, base + 5, base + 50, base + 999.9999999, base + 1000.0001, base - 0.0000001]) {
      const expected = new Date(Math.floor(ms)).toISOString().slice(11, 23);
      expect(textTime(ms), String(ms)).to.equal(expected);
    }
  });
});

describe('escaping with a memory of the last strings checked', () => {
  it('escapes each string by its own content, whatever came before it', () => {
    const { lines, sink } = capture();
    const line = new JsonEventLine(sink, 'pounce.access', 1);
    const strings = ['/', '/a"b', 'curl/8', 'ua\u0001x', '/', 'ua\u0001x', '/a"b', '/a"b', 'curl/8', '/', '\\', 'é', '\ud800'];
    // Every order of pairs, so each string is checked right after every other one (and itself).
    for (const a of strings) {
      for (const b of strings) {
        line.begin('info', at, 'm');
        line.str('a', a);
        line.clientTextOrNull('b', b);
        line.str('c', a);
        line.end();
        const parsed = JSON.parse(lines.pop()!) as { a: string; b: string; c: string };
        expect(parsed.a).to.equal(a);
        expect(parsed.c).to.equal(parsed.a);
        expect(parsed.b).to.equal(b.replace('\u0001', '%01'));
      }
    }
  });

  it('text: each User-Agent rendered by its own content, whatever came before it', () => {
    const strings = ['curl/8', 'h2load nghttp2/1.52.0', 'ua\u0001x', 'a"b', '', 'x=y', 'curl/8', 'tab\there'];
    const render = (line: TextEventLine, ua: string, out: string[]) => {
      line.begin('info', at, 'm');
      line.clientTextOrNull('user_agent', ua);
      line.end();
      return out.pop()!;
    };
    const { lines, sink } = capture();
    const reused = new TextEventLine(sink, 'pounce.access', 1, false);
    for (const a of strings) {
      for (const b of strings) {
        for (const ua of [a, b]) {
          const fresh = capture();
          expect(render(reused, ua, lines), JSON.stringify(ua)).to.equal(render(new TextEventLine(fresh.sink, 'pounce.access', 1, false), ua, fresh.lines));
        }
      }
    }
  });
});
