#!/usr/bin/env node
// Micro-benchmark of the lifecycle log path alone, in one process (no
// sockets): what RequestStarted + ResponseCompleted cost per request at
// log_level=debug, split into serialisation (pino) and writing (LineWriter).
// CPU-bound and single-threaded, so far less noisy than the load benchmark;
// use it to compare changes to src/observability and src/lifecycle.
//
//   npx tsc -p tsconfig.json && node bench/micro-lifecycle.mjs [--pairs N] [--batch B] [--dist DIR]
//
// --dist: a pounce build other than ./dist (to compare two builds A/B).
// --batch: event pairs per flush (under wrk -c50 the server writes about 44
// requests' lines per event-loop turn).

import { closeSync, openSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const distArg = process.argv.indexOf('--dist');
const distDir = distArg > 0 ? process.argv[distArg + 1] : join(root, 'dist');
const dist = (p) => import(pathToFileURL(join(distDir, p)).href);
const { createLoggers } = await dist('observability/logger.js');
const { LineWriter } = await dist('observability/line-writer.js');
const { LifecycleEmitter } = await dist('lifecycle/emitter.js');
const { nowMs } = await dist('observability/clock.js');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const PAIRS = opt('--pairs', 300000);
const BATCH = opt('--batch', 44);

const conn = { id: 1, clientAddr: '127.0.0.1', clientPort: 50000, serverAddr: '127.0.0.1', serverPort: 8000, protocol: 'h1', acceptedAt: nowMs(), memos: [] };
const res = { getHeader: () => 'text/plain', headersSent: true };
function record(i) {
  const startedAt = nowMs();
  return {
    conn,
    res,
    method: 'GET',
    path: '/',
    httpVersion: '1.1',
    startedAt,
    finishedAt: startedAt + 0.05 + (i % 7) * 0.001,
    status: 200,
    bytesSent: 13,
    trace: undefined,
    get durationMs() {
      return this.finishedAt - this.startedAt;
    },
  };
}

function time(label, fn, lines) {
  // warm-up, then the best of 7 runs (the least disturbed one), in CPU time of
  // this process (user + system, all its threads): time spent descheduled on a
  // busy machine does not count.
  fn(Math.min(PAIRS, 50000));
  let best = Infinity;
  for (let k = 0; k < 7; k++) {
    const t0 = process.cpuUsage();
    fn(PAIRS);
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) * 1000);
  }
  const perReq = best / PAIRS;
  process.stdout.write(`${label.padEnd(46)} ${(perReq / 1000).toFixed(3).padStart(7)} µs/request  (${(perReq / lines / 1000).toFixed(3)} µs/line)\n`);
  return perReq;
}

const dir = mkdtempSync(join(tmpdir(), 'pounce-micro-'));
try {
  const devnull = openSync('/dev/null', 'w');
  const file = openSync(join(dir, 'lifecycle.log'), 'w');

  // 1. The whole path: emitter -> pino -> LineWriter -> write(2).
  for (const [name, fd] of [['/dev/null', devnull], ['a file', file]]) {
    const writer = new LineWriter(fd);
    const loggers = createLoggers({ format: 'json', level: 'debug', workerId: 1, destination: writer });
    const emitter = new LifecycleEmitter(loggers.lifecycle, 5000);
    time(`emitter + pino + LineWriter to ${name}`, (n) => {
      for (let i = 0; i < n; i++) {
        const rec = record(i);
        emitter.requestStarted(rec);
        emitter.responseCompleted(rec);
        if (i % BATCH === BATCH - 1) writer.flush();
      }
      writer.flush();
    }, 2);
  }

  // 2. Serialisation only: a destination that drops the line.
  let sink = 0;
  const drop = { write: (line) => { sink += line.length; return true; } };
  {
    const loggers = createLoggers({ format: 'json', level: 'debug', workerId: 1, destination: drop });
    const emitter = new LifecycleEmitter(loggers.lifecycle, 5000);
    time('emitter + pino, line dropped', (n) => {
      for (let i = 0; i < n; i++) {
        const rec = record(i);
        emitter.requestStarted(rec);
        emitter.responseCompleted(rec);
      }
    }, 2);
  }

  // 3. Writing only: two ready-made lines per request.
  {
    let a = '', b = '';
    const capture = { write: (line) => { if (!a) a = line; else if (!b) b = line; return true; } };
    const loggers = createLoggers({ format: 'json', level: 'debug', workerId: 1, destination: capture });
    const emitter = new LifecycleEmitter(loggers.lifecycle, 5000);
    const rec = record(0);
    emitter.requestStarted(rec);
    emitter.responseCompleted(rec);
    const writer = new LineWriter(devnull);
    time('LineWriter only (2 lines) to /dev/null', (n) => {
      for (let i = 0; i < n; i++) {
        writer.write(a);
        writer.write(b);
        if (i % BATCH === BATCH - 1) writer.flush();
      }
      writer.flush();
    }, 2);
    process.stdout.write(`\nsample lines:\n${a}${b}`);
  }

  // 4. At info: no line for a fast request.
  {
    const loggers = createLoggers({ format: 'json', level: 'info', workerId: 1, destination: drop });
    const emitter = new LifecycleEmitter(loggers.lifecycle, 5000);
    time('\nemitter at info (fast request, no line)', (n) => {
      for (let i = 0; i < n; i++) {
        const rec = record(i);
        emitter.requestStarted(rec);
        emitter.responseCompleted(rec);
      }
    }, 1);
  }
  closeSync(devnull);
  closeSync(file);
  if (sink < 0) process.stdout.write('');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
