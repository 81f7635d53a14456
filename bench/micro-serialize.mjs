#!/usr/bin/env node
// How much one fixed-schema log line costs to build, by serialiser, in one
// process (no sockets, no write(2)): ResponseCompleted as the lifecycle
// emitter writes it at log_level=debug. Used to choose the serialiser (see
// bench/README.md).
//
//   node bench/micro-serialize.mjs [--dist DIR]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { pino } from 'pino';

const args = process.argv.slice(2);
const distDir = resolve(args[args.indexOf('--dist') + 1] && args.includes('--dist') ? args[args.indexOf('--dist') + 1] : new URL('../dist', import.meta.url).pathname);
const dist = (p) => import(pathToFileURL(resolve(distDir, p)).href);
const require = createRequire(import.meta.url);
const fastJson = require('fast-json-stringify');

const { JsonEventLine } = await dist('observability/event-line.js');
const { isoTimestamp, nowMs, roundMs } = await dist('observability/clock.js');

let sink = 0;
// Buffer.byteLength flattens the string, as the real writer's encoding does.
const drop = { write: (line) => { sink += Buffer.byteLength(line); return true; } };

const rec = { conn: { id: 42 }, method: 'GET', path: '/api/users', status: 200, bytes: 13, startedAt: nowMs(), finishedAt: nowMs() + 0.123 };

function time(name, fn) {
  // The fastest of 7 repetitions: on a shared machine, noise only ever adds time.
  const n = 200_000;
  for (let i = 0; i < 50_000; i++) fn(i);
  let best = Infinity;
  for (let rep = 0; rep < 7; rep++) {
    // CPU time of this process: time spent descheduled on a busy machine does not count.
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const used = process.cpuUsage(t0);
    best = Math.min(best, ((used.user + used.system) * 1000) / n);
  }
  process.stdout.write(`${name.padEnd(58)} ${(best / 1000).toFixed(3)} µs/line\n`);
}

// 1. Hand-built (what pounce uses): event-line.ts.
const line = new JsonEventLine(drop, 'pounce.lifecycle', 1);
time('hand-built (JsonEventLine)', (i) => {
  line.begin('debug', rec.finishedAt + i, 'Response completed');
  line.word('event', 'ResponseCompleted');
  line.int('connection_id', rec.conn.id);
  line.str('method', rec.method);
  line.str('path', rec.path);
  line.int('status', rec.status);
  line.int('bytes_sent', rec.bytes);
  line.ms('duration_ms', roundMs(rec.finishedAt - rec.startedAt));
  line.end();
});

// 1b. Hand-built in one expression (what a per-event serialiser would be).
const { jsonString } = await dist('observability/event-line.js');
const HEAD = { debug: '{"level":"debug","timestamp":"' };
time('hand-built, one expression per event', (i) => {
  drop.write(HEAD.debug + isoTimestamp(rec.finishedAt + i) + '","logger":"pounce.lifecycle","worker_id":1,"event":"ResponseCompleted","connection_id":' + rec.conn.id +
    ',"method":"' + rec.method + '","path":' + jsonString(rec.path) + ',"status":' + rec.status + ',"bytes_sent":' + rec.bytes +
    ',"duration_ms":' + roundMs(rec.finishedAt - rec.startedAt) + ',"msg":"Response completed"}\n');
});

// 2. fast-json-stringify, the schema compiled ahead; a field object per line.
const stringify = fastJson({
  type: 'object',
  properties: {
    level: { type: 'string' }, timestamp: { type: 'string' }, logger: { type: 'string' }, worker_id: { type: 'integer' },
    event: { type: 'string' }, connection_id: { type: 'integer' }, method: { type: 'string' }, path: { type: 'string' },
    status: { type: 'integer' }, bytes_sent: { type: 'integer' }, duration_ms: { type: 'number' }, slow: { type: 'boolean' },
    trace_id: { type: 'string' }, span_id: { type: 'string' }, trace_flags: { type: 'string' }, msg: { type: 'string' },
  },
});
time('fast-json-stringify (compiled schema, object per line)', (i) => {
  drop.write(stringify({
    level: 'debug', timestamp: isoTimestamp(rec.finishedAt + i), logger: 'pounce.lifecycle', worker_id: 1, event: 'ResponseCompleted',
    connection_id: rec.conn.id, method: rec.method, path: rec.path, status: rec.status, bytes_sent: rec.bytes,
    duration_ms: roundMs(rec.finishedAt - rec.startedAt), msg: 'Response completed',
  }) + '\n');
});

// 3. pino, fields bound ahead in a child (logger, worker_id, event), per-line fields as an object.
const logger = pino({ base: null, messageKey: 'msg', timestamp: () => ',"timestamp":"' + isoTimestamp(nowMs()) + '"', formatters: { level: (label) => ({ level: label }) }, level: 'debug' }, drop)
  .child({ logger: 'pounce.lifecycle', worker_id: 1 }).child({ event: 'ResponseCompleted' });
time('pino child with bound fields', () => {
  logger.debug({ connection_id: rec.conn.id, method: rec.method, path: rec.path, status: rec.status, bytes_sent: rec.bytes, duration_ms: roundMs(rec.finishedAt - rec.startedAt) }, 'Response completed');
});

// 4. JSON.stringify of a field object (the generic walk).
time('JSON.stringify (object per line)', (i) => {
  drop.write(JSON.stringify({
    level: 'debug', timestamp: isoTimestamp(rec.finishedAt + i), logger: 'pounce.lifecycle', worker_id: 1, event: 'ResponseCompleted',
    connection_id: rec.conn.id, method: rec.method, path: rec.path, status: rec.status, bytes_sent: rec.bytes,
    duration_ms: roundMs(rec.finishedAt - rec.startedAt), msg: 'Response completed',
  }) + '\n');
});
// 5. The text format: pounce's TextEventLine against pino-pretty (which parses each JSON line back).
const { TextEventLine } = await dist('observability/event-line.js');
const text = new TextEventLine(drop, 'pounce.lifecycle', 1, false);
time('text: hand-built (TextEventLine)', (i) => {
  text.begin('debug', rec.finishedAt + i, 'Response completed');
  text.word('event', 'ResponseCompleted');
  text.int('connection_id', rec.conn.id);
  text.str('method', rec.method);
  text.str('path', rec.path);
  text.int('status', rec.status);
  text.int('bytes_sent', rec.bytes);
  text.ms('duration_ms', roundMs(rec.finishedAt - rec.startedAt));
  text.end();
});
const { prettyFactory } = require('pino-pretty');
const pretty = prettyFactory({ colorize: false, singleLine: true, messageKey: 'msg', timestampKey: 'timestamp', translateTime: 'UTC:HH:MM:ss.l' });
const jsonLine = (i) => HEAD.debug + isoTimestamp(rec.finishedAt + i) + '","logger":"pounce.lifecycle","worker_id":1,"event":"ResponseCompleted","connection_id":42,"method":"GET","path":"/api/users","status":200,"bytes_sent":13,"duration_ms":0.123,"msg":"Response completed"}';
time('text: pino-pretty of the JSON line (line built apart)', (i) => drop.write(pretty(jsonLine(i))));
process.stdout.write(`(${sink > 0 ? 'ok' : 'nothing written'})\n`);
