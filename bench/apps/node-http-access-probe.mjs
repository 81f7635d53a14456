// A yardstick, not a product: bare node:http writing pounce's JSON lines (same
// fields) built by hand, with no escaping, no tracking beyond one 'finish'
// listener, batched into one write(2) per event-loop turn: the cheapest honest
// way to get those lines out of node:http. What pounce pays beyond it is
// pounce's own. PROBE=access (default): the access line; PROBE=debug:
// RequestStarted + ResponseCompleted, as pounce --log-level debug writes them.
// PORT from the environment.
//
// EE_KINDS=N (an experiment, off by default): before serving, make 20 objects
// of each of N EventEmitter subclasses, as any bigger process does (pounce's
// makes a FileHandle for each module file it loads, a CLI parser's Commands,
// its captured stdout...). V8 keeps one inline cache per store in EventEmitter's constructor for
// every emitter of the process: past four object shapes it turns generic, and
// each request's IncomingMessage and ServerResponse then pay for it.
import { createServer } from 'node:http';
import { EventEmitter } from 'node:events';
import { writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import hello from './hello-node.mjs';

const port = Number(process.env.PORT ?? 8000);
const otherEmitterKinds = Number(process.env.EE_KINDS ?? 0);
for (let kind = 0; kind < otherEmitterKinds; kind++) {
  const Kind = class extends EventEmitter {};
  for (let i = 0; i < 20; i++) new Kind();
}
let pending = '';
let scheduled = false;
const flush = () => {
  scheduled = false;
  const text = pending;
  pending = '';
  writeSync(1, text);
};
let nextConnection = 1;
const ids = new WeakMap();

const debug = process.env.PROBE === 'debug';
// RFC 3339 with microseconds, the date part made once per second: any lean
// logger caches it (new Date().toISOString() per line costs ~7.6k instructions,
// more than the rest of the line; valgrind, bench/instructions.mjs).
const offset = Date.now() - performance.now();
let second = -1;
let prefix = '';
const stamp = () => {
  const now = offset + performance.now();
  const s = Math.floor(now / 1000);
  if (s !== second) {
    second = s;
    prefix = new Date(s * 1000).toISOString().slice(0, 20);
  }
  const micros = Math.floor((now - s * 1000) * 1000);
  return prefix + String(micros).padStart(6, '0') + 'Z';
};

function push(line) {
  pending += line;
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

function onDebugFinish() {
  const req = this.req;
  push(
    '{"level":"debug","timestamp":"' + stamp() + '","logger":"pounce.lifecycle","worker_id":1,"event":"ResponseCompleted","connection_id":' + ids.get(req.socket) +
      ',"method":"' + req.method + '","path":"' + req.url + '","status":' + this.statusCode + ',"bytes_sent":13,"duration_ms":' +
      Math.round((performance.now() - this.started) * 1000) / 1000 + ',"msg":"Response completed"}\n',
  );
}

function onFinish() {
  const req = this.req;
  const socket = req.socket;
  const started = this.started;
  const line =
    '{"level":"info","timestamp":"' + stamp() + '","logger":"pounce.access","worker_id":1,"connection_id":' + ids.get(socket) +
    ',"client_addr":"' + socket.remoteAddress + '","method":"' + req.method + '","path":"' + req.url + '","http_version":"' + req.httpVersion +
    '","status":' + this.statusCode + ',"bytes_sent":13,"duration_ms":' + Math.round((performance.now() - started) * 1000) / 1000 +
    ',"user_agent":"' + req.headers['user-agent'] + '","msg":"' + socket.remoteAddress + ':' + socket.remotePort + ' - \\"' + req.method + ' ' + req.url +
    ' HTTP/' + req.httpVersion + '\\" ' + this.statusCode + '"}\n';
  push(line);
}

const server = createServer((req, res) => {
  res.started = performance.now();
  if (debug) {
    push(
      '{"level":"debug","timestamp":"' + stamp() + '","logger":"pounce.lifecycle","worker_id":1,"event":"RequestStarted","connection_id":' + ids.get(req.socket) +
        ',"method":"' + req.method + '","path":"' + req.url + '","http_version":"' + req.httpVersion + '","msg":"Request started"}\n',
    );
    res.on('finish', onDebugFinish);
  } else {
    res.on('finish', onFinish);
  }
  hello(req, res);
});
server.on('connection', (socket) => ids.set(socket, nextConnection++));
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
