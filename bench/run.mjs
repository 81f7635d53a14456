#!/usr/bin/env node
// Load benchmarks: pounce against a bare node:http server and peers, in the
// same run, with interleaved rounds. See bench/README.md.
//
//   node bench/run.mjs [--rounds N] [--duration S] [--connections C]
//                      [--only name,name] [--quick] [--pin] [--out FILE]
//
// Every (round, variant) starts a fresh server process on 127.0.0.1, warms it
// up, measures it with wrk, and stops it. Each round runs every variant once,
// in an order rotated by one per round, each between two runs of bare
// node:http (the baseline), so that machine noise (another process, a busy
// host, drift) hits all variants alike. A variant's ratio is its req/s divided
// by the mean req/s of the two baseline runs around it; the reported ratio is
// the median of those per-round ratios.

import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { get } from 'node:http';
import { cpus, tmpdir, totalmem, release, hostname } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH, '..');
export const CLI = '{pounce}/dist/cli.js';
const APPS = join(BENCH, 'apps');
export const HOST = '127.0.0.1';
const BASELINE = 'node-http';
/** A round counts when its two baseline runs are within this fraction of their mean... */
const STEADY_TOLERANCE = 0.1;
/** ...as long as at least this many rounds do (otherwise all count). */
const MIN_STEADY = 3;
const EXPECTED_BODY = 'Hello, World!';

const pounce = (app, ...flags) => ({ cmd: [CLI, join(APPS, app), '--host', HOST, '--port', '{port}', '--log-format', 'json', ...flags] });

/** The variants, in their base order. `floor`: minimum ratio to node-http named by the issue (reported, never enforced); `byName`: run only when --only names it. */
export const VARIANTS = [
  { name: 'node-http', description: 'bare node:http, res.end(\'Hello, World!\'), text/plain', cmd: [join(APPS, 'node-http.mjs')] },
  { name: 'pounce-off', description: 'pounce, node-style app, --no-access-log, no lifecycle logging', floor: 0.95, ...pounce('hello-node.mjs', '--no-access-log') },
  { name: 'pounce-info', description: 'pounce, --lifecycle-logging --log-level info --no-access-log (no line per fast request)', floor: 0.92, ...pounce('hello-node.mjs', '--lifecycle-logging', '--log-level', 'info', '--no-access-log') },
  { name: 'pounce-debug', description: 'pounce, --lifecycle-logging --log-level debug --no-access-log (RequestStarted + ResponseCompleted per request)', floor: 0.85, ...pounce('hello-node.mjs', '--lifecycle-logging', '--log-level', 'debug', '--no-access-log') },
  { name: 'pounce-access', description: 'pounce, access log on (default), lifecycle off (1 line per request)', floor: 0.9, ...pounce('hello-node.mjs') },
  // No flags at all: what a user gets out of the box (text format, access log on).
  { name: 'pounce-defaults', description: 'pounce with no flags: text format, access log on (1 line per request)', floor: 0.8, cmd: [CLI, join(APPS, 'hello-node.mjs'), '--host', HOST, '--port', '{port}'] },
  { name: 'pounce-fetch', description: 'pounce, fetch-style app (new Response(...)), logging off', floor: 0.9, ...pounce('hello-fetch.mjs', '--no-access-log') },
  { name: 'hono-node-server', description: '@hono/node-server (defaults) serving the same fetch handler as pounce-fetch', cmd: [join(APPS, 'hono-node-server.mjs')] },
  { name: 'pounce-hono', description: 'pounce, a Hono app with a few routes, GET /users/42 (param, JSON), logging off', path: '/users/42', ...pounce('hono-app.mjs', '--no-access-log') },
  { name: 'hono-app-node-server', description: '@hono/node-server (defaults) serving the same Hono app, GET /users/42', path: '/users/42', cmd: [join(APPS, 'hono-app-node-server.mjs')] },
  { name: 'node-http-access-probe', description: 'yardstick: bare node:http writing the same JSON access line, hand-built, unescaped, one write(2) per tick (1 line per request)', cmd: [join(APPS, 'node-http-access-probe.mjs')] },
  { name: 'node-http-debug-probe', description: 'yardstick: bare node:http writing the RequestStarted + ResponseCompleted JSON lines, hand-built, unescaped, one write(2) per tick (2 lines per request)', env: { PROBE: 'debug' }, cmd: [join(APPS, 'node-http-access-probe.mjs')] },
  // Run only when named (--only): the access yardstick in a process that made other kinds of EventEmitter before serving, as pounce's does.
  { name: 'node-http-access-probe-ee', byName: true, description: 'yardstick as node-http-access-probe, after making 20 objects of each of 6 EventEmitter subclasses (EE_KINDS=6)', env: { EE_KINDS: '6' }, cmd: [join(APPS, 'node-http-access-probe.mjs')] },
  { name: 'fastify-logger', description: 'fastify with its pino logger on (2 lines per request)', peer: 'fastify', cmd: [join(APPS, 'fastify-logger.mjs')] },
  { name: 'node-pino-http', description: 'node:http + pino-http (1 line per request)', peer: 'pino-http', cmd: [join(APPS, 'node-pino-http.mjs')] },
];

// ---------------------------------------------------------------- arguments

function usage(code) {
  const text = `Usage: node bench/run.mjs [options]

  --rounds N         interleaved rounds (default 7; every variant runs once per round,
                     between two runs of the baseline)
  --duration S       measured seconds per run (default 3)
  --warmup S         unmeasured warm-up seconds per run (default 1)
  --connections C    wrk connections (default 50)
  --threads T        wrk threads (default 1)
  --only a,b         run only these variants (${BASELINE} is always added: it is the baseline)
  --quick            1 round of 2 s (a smoke run)
  --pin              pin each server (every thread of it) to CPU 0 and wrk to CPU 1 (taskset)
  --max-foreign F    a run during which other processes used more than F cores
                     (default 0.15) is disturbed: wait for a quiet machine and
                     run it again, up to --retries times (default 2; 0 with --quick)
  --port-base P      first port (default 18400; variant i listens on P+i)
  --out FILE         JSON results file (default bench/results/<timestamp>.json)
  --build DIR        the pounce build to measure: a directory holding dist/
                     (default: this checkout)
  --compare DIR      A/B: also run every selected pounce variant from the pounce
                     build in DIR (a directory holding dist/), as <name>@base
  --profile DIR      run every server under node --cpu-prof, profiles into DIR
                     (summarise one with node bench/profile-top.mjs FILE)
  -h, --help

Variants: ${VARIANTS.map((v) => v.name).join(', ')}
`;
  (code ? process.stderr : process.stdout).write(text);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { rounds: 7, duration: 3, warmup: 1, connections: 50, threads: 1, only: undefined, pin: false, portBase: 18400, out: undefined, profile: undefined, compare: undefined, build: ROOT, maxForeign: 0.15, retries: 2 };
  let quick = false;
  const explicit = new Set();
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    const num = (min, integer) => {
      const raw = next();
      const n = Number(raw);
      if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) fail(`${arg} expects ${integer ? 'a whole number' : 'a number'} >= ${min}, got ${raw}`);
      return n;
    };
    switch (arg) {
      case '--rounds': opts.rounds = num(1, true); explicit.add('rounds'); break;
      case '--duration': opts.duration = num(1, true); explicit.add('duration'); break;
      case '--warmup': opts.warmup = num(0, true); break;
      case '--connections': opts.connections = num(1, true); break;
      case '--threads': opts.threads = num(1, true); break;
      case '--only': opts.only = next().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--quick': quick = true; break;
      case '--pin': opts.pin = true; break;
      case '--max-foreign': opts.maxForeign = num(0, false); break;
      case '--retries': opts.retries = num(0, true); explicit.add('retries'); break;
      case '--port-base': opts.portBase = num(1024, true); break;
      case '--out': opts.out = resolve(next()); break;
      case '--profile': opts.profile = next(); break;
      case '--compare': opts.compare = resolve(next()); break;
      case '--build': opts.build = resolve(next()); break;
      case '-h': case '--help': usage(0); break;
      default: fail(`unknown option ${arg} (see --help)`);
    }
  }
  if (quick) {
    if (!explicit.has('rounds')) opts.rounds = 1;
    if (!explicit.has('duration')) opts.duration = 2;
    if (!explicit.has('retries')) opts.retries = 0;
  }
  if (opts.connections < opts.threads) fail('--connections must be >= --threads');
  return opts;
}

export function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- processes

/** Every child still running; killed on the way out, whatever the way out is. */
const children = new Set();
let tmp;

function cleanup() {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping\n`);
    cleanup();
    process.exit(130);
  });
}

function track(child) {
  children.add(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  child.once('error', () => children.delete(child));
  return child;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Is anything listening on the port? */
function portInUse(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/** One GET / with a fresh connection: the status and body, or undefined if nothing answers. */
function probe(port) {
  return new Promise((resolve) => {
    const req = get({ host: HOST, port, path: '/', agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

export async function startServer(variant, port, logPath, errPath, pin, logFlags = 'w') {
  if (await portInUse(port)) throw new Error(`port ${port} is already in use (another server left running?); pick another with --port-base`);
  const args = variant.cmd.map((a) => a.replace('{port}', String(port)).replace('{pounce}', variant.pounceDir ?? pounceDir));
  const out = openSync(logPath, logFlags);
  const err = openSync(errPath, 'w');
  const node = [process.execPath, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${variant.name}-${Date.now()}.cpuprofile`] : []), ...args];
  const [file, argv] = pin ? ['taskset', ['-c', '0', ...node]] : [node[0], node.slice(1)];
  const child = track(spawn(file, argv, { cwd: ROOT, stdio: ['ignore', out, err], env: { ...process.env, ...variant.env, PORT: String(port), NODE_ENV: 'production' } }));
  closeSync(out);
  closeSync(err);
  let exited = false;
  child.exited.then(() => (exited = true));
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${variant.name} exited before listening:\n${tail(errPath)}${tail(logPath)}`);
    const answer = await probe(port);
    if (answer) {
      if (answer.status !== 200 || answer.body !== EXPECTED_BODY) {
        await stopServer(child);
        throw new Error(`${variant.name} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 200))}, expected 200 ${JSON.stringify(EXPECTED_BODY)}`);
      }
      return child;
    }
    await sleep(50);
  }
  await stopServer(child);
  throw new Error(`${variant.name} did not answer on port ${port} within 15 s:\n${tail(errPath)}`);
}

export async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

function tail(path, bytes = 2000) {
  try {
    const text = readFileSync(path, 'utf8');
    return text.length > bytes ? '...' + text.slice(-bytes) : text;
  } catch {
    return '';
  }
}

/** Newlines in a file, streamed (debug logs run to tens of MB). */
async function countLines(path) {
  let lines = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return lines;
}

/** The CPUs each thread of a process may run on (Cpus_allowed_list of every /proc/<pid>/task/<tid>); undefined off Linux. */
function threadAffinity(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? '?');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, all its threads, from /proc; undefined off Linux. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

let CLK_TCK = 100;
{
  const clk = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  if (clk.status === 0 && Number(clk.stdout) > 0) CLK_TCK = Number(clk.stdout);
}

/** CPU seconds all cores have spent busy (steal included) since boot, from /proc/stat; undefined off Linux. */
export function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Wait (at most maxSeconds) for a half second in which the machine is busier than `cores` by no more than that. */
async function waitQuiet(cores, maxSeconds) {
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const before = machineBusySeconds();
    await sleep(500);
    const after = machineBusySeconds();
    if (before === undefined || after === undefined || (after - before) / 0.5 <= cores || Date.now() > deadline) return;
  }
}

/** Where the pounce build under test lives: a copy of dist/ taken at start (see snapshotPounce). */
let pounceDir = ROOT;
/** --profile: where servers write their .cpuprofile. */
let profileDir;

/**
 * Copy dist/ (and package.json) into the temp dir and run pounce from there, so
 * that a rebuild while the benchmark runs does not change the code under test
 * halfway through. node_modules is linked, not copied.
 */
export function snapshotPounce(from = ROOT, name = 'pounce') {
  const dir = join(tmp, name);
  cpSync(join(from, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

// ---------------------------------------------------------------- wrk

export function checkWrk() {
  const r = spawnSync('wrk', ['-v'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) {
    const why = r.error.code === 'ENOENT' ? 'wrk is not installed (not found on PATH)' : `wrk could not be run: ${r.error.message}`;
    fail(`${why}. Install it: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk (macOS). See bench/README.md.`);
  }
  const first = ((r.stdout || '') + (r.stderr || '')).split('\n')[0].trim();
  return /^wrk \S+/.exec(first)?.[0] ?? first;
}

export function runWrk(port, seconds, opts, latency) {
  const args = [`-t${opts.threads}`, `-c${opts.connections}`, `-d${seconds}s`, ...(latency ? ['--latency'] : []), `http://${HOST}:${port}${opts.path ?? '/'}`];
  const [file, argv] = opts.pin ? ['taskset', ['-c', '1', 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const child = track(spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    // wrk's own CPU time, sampled until it exits (the last 200 ms are missed): to tell its load from other processes'.
    let wrkCpu = 0;
    const poll = setInterval(() => (wrkCpu = cpuSeconds(child.pid) ?? wrkCpu), 200);
    child.once('error', (e) => { clearTimeout(timer); clearInterval(poll); reject(e); });
    child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      clearInterval(poll);
      if (code !== 0) return reject(new Error(`wrk ${argv.join(' ')} failed (${signal ?? code}): ${err || out}`));
      try {
        resolve({ ...parseWrk(out), wrk_cpu_s: wrkCpu });
      } catch (e) {
        reject(new Error(`${e.message}\n${out}`));
      }
    });
  });
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000 };
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : undefined;
}

function parseWrk(out) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!rps || !total) throw new Error('could not read wrk output');
  const latency = {};
  for (const m of out.matchAll(/^\s+(50|75|90|99)%\s+([\d.]+(?:us|ms|s|m))\s*$/gm)) latency[`p${m[1]}`] = toMs(m[2]);
  const avg = /Latency\s+([\d.]+(?:us|ms|s|m))/.exec(out);
  if (avg) latency.avg = toMs(avg[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    latency_ms: latency,
    errors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
    },
  };
}

// ---------------------------------------------------------------- statistics

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const round2 = (x) => (x == null ? null : Math.round(x * 100) / 100);
const round3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

// ---------------------------------------------------------------- main

async function measure(variant, port, opts) {
  const logPath = join(tmp, `${variant.name}.log`);
  const errPath = join(tmp, `${variant.name}.err`);
  const child = await startServer(variant, port, logPath, errPath, opts.pin);
  let run;
  try {
    let warmupRequests = 0;
    if (opts.warmup > 0) warmupRequests = (await runWrk(port, opts.warmup, { ...opts, path: variant.path }, false)).requests;
    // Pinned: every thread of the server (libuv's pool, V8's helpers: all made after the exec) must be on CPU 0.
    const affinity = opts.pin ? threadAffinity(child.pid) : undefined;
    if (affinity && affinity.some((cpusAllowed) => cpusAllowed !== '0')) throw new Error(`${variant.name}: --pin, but threads run on CPUs ${affinity.join(' ')}`);
    if (opts.retries > 0) await waitQuiet(opts.maxForeign, 20);
    const busyBefore = machineBusySeconds();
    const cpuBefore = cpuSeconds(child.pid);
    run = await runWrk(port, opts.duration, { ...opts, path: variant.path }, true);
    const cpuAfter = cpuSeconds(child.pid);
    const busyAfter = machineBusySeconds();
    run.server_cpu_us_per_req = cpuBefore !== undefined && cpuAfter !== undefined && run.requests > 0 ? round2(((cpuAfter - cpuBefore) * 1e6) / run.requests) : null;
    run.server_cpu_util = cpuBefore !== undefined && cpuAfter !== undefined ? round2((cpuAfter - cpuBefore) / opts.duration) : null;
    // Cores used by everything else (other processes, the hypervisor's steal) while we measured.
    run.foreign_cpu = busyBefore !== undefined && busyAfter !== undefined && run.server_cpu_util !== null
      ? round2(Math.max(0, (busyAfter - busyBefore - run.wrk_cpu_s) / opts.duration - run.server_cpu_util))
      : null;
    run.served = warmupRequests + run.requests + 1;
    if (affinity) run.threads_pinned = affinity.length;
  } finally {
    const exit = await stopServer(child);
    if (run) run.exit = exit.signal ?? exit.code;
  }
  // Log lines per request served (startup/shutdown lines make it a hair above the per-request count).
  run.log_bytes = statSync(logPath).size;
  run.log_lines_per_req = round2((await countLines(logPath)) / run.served);
  rmSync(logPath, { force: true });
  rmSync(errPath, { force: true });
  return run;
}

export function machine(wrkVersion) {
  const cpu = cpus();
  return {
    host: hostname(),
    cpus: cpu.length,
    cpu_model: cpu[0]?.model ?? 'unknown',
    memory_gb: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()}`,
    node: process.version,
    wrk: wrkVersion,
  };
}

function markdownTable(results) {
  const rows = [
    '| variant | req/s (median) | ratio to node-http (median of rounds) | ratio min–max | rounds counted | p50 ms | p99 ms | server CPU µs/req | CPU ratio | log lines/req | floor (req/s ratio) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const range = r.ratio_min == null ? '' : `${r.ratio_min.toFixed(2)}–${r.ratio_max.toFixed(2)}`;
    const floor = r.floor == null ? '' : `>= ${r.floor.toFixed(2)}: ${r.floor_held ? 'held' : 'MISSED'}`;
    rows.push(
      `| ${r.name} | ${Math.round(r.rps_median).toLocaleString('en-US')} | ${r.ratio_median == null ? '' : r.ratio_median.toFixed(2) + 'x'} | ${range} | ${r.rounds_counted} | ${r.p50_ms_median ?? ''} | ${r.p99_ms_median ?? ''} | ${r.cpu_us_per_req_median ?? ''} | ${r.cpu_ratio_median == null ? '' : r.cpu_ratio_median.toFixed(2) + 'x'} | ${r.log_lines_per_req ?? ''} | ${floor} |`,
    );
  }
  return rows.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wrkVersion = checkWrk();
  if (opts.pin && spawnSync('taskset', ['-V']).error) fail('--pin needs taskset (util-linux)');
  if (!existsSync(join(opts.build, 'dist', 'cli.js'))) fail(`${join(opts.build, 'dist', 'cli.js')} is missing: build pounce first (npx tsc -p tsconfig.json)`);
  let variants = VARIANTS.filter((v) => !v.byName);
  if (opts.only) {
    const unknown = opts.only.filter((n) => !VARIANTS.some((v) => v.name === n));
    if (unknown.length) fail(`unknown variant ${unknown.join(', ')}; variants: ${VARIANTS.map((v) => v.name).join(', ')}`);
    if (!opts.only.includes(BASELINE)) process.stderr.write(`bench: adding ${BASELINE}, the baseline every ratio is computed against\n`);
    variants = VARIANTS.filter((v) => v.name === BASELINE || opts.only.includes(v.name));
  }
  if (opts.compare) {
    if (!existsSync(join(opts.compare, 'dist', 'cli.js'))) fail(`--compare ${opts.compare}: no dist/cli.js there`);
    const twins = variants.filter((v) => v.cmd.includes(CLI)).map((v) => ({ ...v, name: `${v.name}@base`, description: `${v.description} [build in ${opts.compare}]`, floor: undefined, compare: true }));
    variants = [...variants, ...twins];
  }
  const peersMissing = variants.filter((v) => v.peer && !existsSync(join(BENCH, 'peers', 'node_modules', v.peer, 'package.json')));
  if (peersMissing.length) {
    fail(`peer packages missing for ${peersMissing.map((v) => v.name).join(', ')}: run npm ci --prefix bench/peers (or leave them out with --only)`);
  }
  const ports = new Map([...VARIANTS, ...variants.filter((v) => v.compare)].map((v, i) => [v.name, opts.portBase + i]));

  makeTemp();
  if (variants.some((v) => v.cmd.includes(CLI))) pounceDir = snapshotPounce(opts.build);
  if (opts.compare) {
    const baseDir = snapshotPounce(opts.compare, 'pounce-base');
    for (const v of variants) if (v.compare) v.pounceDir = baseDir;
  }
  if (opts.profile) {
    profileDir = resolve(opts.profile);
    mkdirSync(profileDir, { recursive: true });
  }
  const started = new Date();
  const perVariant = new Map(variants.map((v) => [v.name, []]));
  const rounds = [];
  const perRun = opts.warmup + opts.duration + 1;
  const runsPerRound = 2 * variants.length - 1; // every variant between two baseline runs
  process.stderr.write(
    `bench: ${variants.length} variants x ${opts.rounds} rounds, wrk -t${opts.threads} -c${opts.connections} -d${opts.duration}s (+${opts.warmup}s warm-up)${opts.pin ? ', pinned' : ''}; about ${Math.ceil((runsPerRound * opts.rounds * perRun) / 60)} min\n`,
  );

  // A disturbed run is run again; the least disturbed attempt is kept.
  const measureQuietly = async (v, r) => {
    let run;
    for (let attempt = 0; ; attempt++) {
      const next = await measure(v, ports.get(v.name), opts);
      if (!run || (next.foreign_cpu ?? 0) < (run.foreign_cpu ?? 0)) run = next;
      run.attempts = attempt + 1;
      if (run.foreign_cpu === null || run.foreign_cpu <= opts.maxForeign || attempt >= opts.retries) break;
      process.stderr.write(`  round ${r + 1}/${opts.rounds} ${v.name.padEnd(15)} disturbed (other processes used ${next.foreign_cpu} cores): again\n`);
    }
    perVariant.get(v.name).push({ round: r + 1, ...run });
    const errs = Object.values(run.errors).reduce((a, b) => a + b, 0);
    process.stderr.write(
      `  round ${r + 1}/${opts.rounds} ${v.name.padEnd(15)} ${String(Math.round(run.rps)).padStart(7)} req/s  p99 ${run.latency_ms.p99}ms  cpu ${run.server_cpu_us_per_req}µs/req  lines/req ${run.log_lines_per_req}  foreign ${run.foreign_cpu}${errs ? `  errors ${JSON.stringify(run.errors)}` : ''}\n`,
    );
    return run;
  };

  const baseline = variants.find((v) => v.name === BASELINE);
  const others = variants.filter((v) => v !== baseline);
  for (let r = 0; r < opts.rounds; r++) {
    const shift = others.length ? r % others.length : 0;
    const order = [...others.slice(shift), ...others.slice(0, shift)];
    const round = { round: r + 1, order: [], rps: {}, ratio: {}, cpu_us_per_req: {}, cpu_ratio: {}, steady: {}, baseline_rps: [], baseline_cpu_us_per_req: [] };
    // Every variant runs between two baseline runs and is compared with their mean: the
    // machine's speed drifts (a VM's host), and a baseline measured seconds away follows it.
    let before = await measureQuietly(baseline, r);
    round.order.push(BASELINE);
    round.baseline_rps.push(before.rps);
    round.baseline_cpu_us_per_req.push(before.server_cpu_us_per_req);
    for (const v of order) {
      const run = await measureQuietly(v, r);
      const after = await measureQuietly(baseline, r);
      round.order.push(v.name, BASELINE);
      round.baseline_rps.push(after.rps);
      round.baseline_cpu_us_per_req.push(after.server_cpu_us_per_req);
      const baseRps = (before.rps + after.rps) / 2;
      // The machine kept its speed across the run when the baseline did: such rounds are the ones that count.
      round.steady[v.name] = Math.abs(before.rps - after.rps) <= STEADY_TOLERANCE * baseRps;
      round.rps[v.name] = run.rps;
      round.cpu_us_per_req[v.name] = run.server_cpu_us_per_req;
      round.ratio[v.name] = baseRps ? round3(run.rps / baseRps) : null;
      const baseCpu = before.server_cpu_us_per_req && after.server_cpu_us_per_req ? (before.server_cpu_us_per_req + after.server_cpu_us_per_req) / 2 : null;
      round.cpu_ratio[v.name] = baseCpu && run.server_cpu_us_per_req ? round3(baseCpu / run.server_cpu_us_per_req) : null;
      before = after;
    }
    round.rps[BASELINE] = median(round.baseline_rps);
    round.cpu_us_per_req[BASELINE] = median(round.baseline_cpu_us_per_req);
    round.ratio[BASELINE] = 1;
    round.cpu_ratio[BASELINE] = 1;
    round.steady[BASELINE] = true;
    rounds.push(round);
  }

  const results = variants.map((v) => {
    const runs = perVariant.get(v.name);
    // Rounds whose two baseline runs disagree saw the machine change speed mid-measurement:
    // left out when at least MIN_STEADY rounds remain (the table says how many counted).
    const steadyRounds = rounds.filter((rd) => rd.steady[v.name] && rd.ratio[v.name] != null);
    const counted = steadyRounds.length >= MIN_STEADY ? steadyRounds : rounds;
    const ratios = counted.map((rd) => rd.ratio[v.name]).filter((x) => x != null);
    const ratio = median(ratios);
    const cpuRatios = counted.map((rd) => rd.cpu_ratio[v.name]).filter((x) => x != null);
    return {
      name: v.name,
      description: v.description,
      command: v.cmd.map((a) => a.replace('{pounce}/', '').replace('{port}', String(ports.get(v.name)))).map((a) => (a.startsWith(ROOT) ? relative(ROOT, a) : a)).join(' '),
      rps_median: round2(median(runs.map((x) => x.rps))),
      rps_per_round: runs.map((x) => x.rps),
      ratio_median: round3(ratio),
      ratio_min: ratios.length ? Math.min(...ratios) : null,
      ratio_max: ratios.length ? Math.max(...ratios) : null,
      ratio_per_round: rounds.map((rd) => rd.ratio[v.name]),
      rounds_counted: ratios.length,
      p50_ms_median: round2(median(runs.map((x) => x.latency_ms.p50))),
      p99_ms_median: round2(median(runs.map((x) => x.latency_ms.p99))),
      cpu_us_per_req_median: round2(median(runs.map((x) => x.server_cpu_us_per_req))),
      cpu_ratio_median: round3(median(cpuRatios)),
      cpu_ratio_per_round: cpuRatios,
      server_cpu_util_median: round2(median(runs.map((x) => x.server_cpu_util))),
      foreign_cpu_max: runs.reduce((m, x) => Math.max(m, x.foreign_cpu ?? 0), 0),
      disturbed_runs: runs.filter((x) => x.foreign_cpu !== null && x.foreign_cpu > opts.maxForeign).length,
      log_lines_per_req: round2(median(runs.map((x) => x.log_lines_per_req))),
      errors: runs.reduce((acc, x) => { for (const [k, n] of Object.entries(x.errors)) acc[k] = (acc[k] ?? 0) + n; return acc; }, {}),
      floor: v.floor ?? null,
      floor_held: v.floor == null || ratio == null ? null : ratio >= v.floor,
      runs,
    };
  });

  const report = {
    date: started.toISOString(),
    duration_s: Math.round((Date.now() - started.getTime()) / 1000),
    machine: machine(wrkVersion),
    settings: { ...opts, out: undefined, baseline: BASELINE, load: `wrk -t${opts.threads} -c${opts.connections} -d${opts.duration}s --latency http://${HOST}:<port>/ (keep-alive GET /)` },
    variants: results,
    rounds,
  };
  const out = opts.out ?? join(BENCH, 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');

  const m = report.machine;
  const bare = results.find((r) => r.name === BASELINE);
  process.stdout.write(
    `\n${started.toISOString().slice(0, 10)} · ${m.cpus} cores ${m.cpu_model} · ${m.os} · node ${m.node} · ${m.wrk}\n` +
      `${opts.rounds} rounds x ${opts.duration} s, wrk -t${opts.threads} -c${opts.connections}${opts.pin ? ', pinned (server and all its threads on CPU 0, wrk on CPU 1)' : ''}\n` +
      `bare node:http: ${bare ? `${Math.round(bare.rps_median).toLocaleString('en-US')} req/s, ${bare.cpu_us_per_req_median} µs CPU/req (medians)` : 'not run'}; ` +
      `other processes used up to ${Math.max(...results.map((r) => r.foreign_cpu_max))} cores during a run${results.some((r) => r.disturbed_runs) ? ' (a busy machine: read the ratios with that in mind)' : ''}\n\n` +
      markdownTable(results) +
      `\n\nresults: ${relative(process.cwd(), out) || out}\n`,
  );
}

/** The scratch directory (server logs, the pounce snapshot), removed on exit. */
export function makeTemp() {
  tmp ??= mkdtempSync(join(tmpdir(), 'pounce-bench-'));
  return tmp;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    cleanup();
    process.exit(1);
  });
}
