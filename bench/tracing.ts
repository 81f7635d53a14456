/**
 * What tracing costs: pounce's SERVER spans (on the standard NodeSDK it
 * starts) versus the usual NodeSDK + @opentelemetry/instrumentation-http
 * setup on bare node:http, each against its untraced twin. Floor: pounce
 * traced serves at least 2× the requests per second of node:http traced.
 *
 *   npx tsc -p tsconfig.json && npx tsx bench/tracing.ts [--rounds 5] [--duration 5] [--connections 50] [--access-log 0|1]
 *
 * Four servers, the same hello handler (bench/apps/tracing-hello.mjs), all on 127.0.0.1:
 *   pounce           pounce, no tracing, --no-access-log: like the node:http servers, which
 *                    log nothing, so that both sides compare span work only. --access-log 1
 *                    runs both pounce servers with pounce's default access log instead
 *                    (written to /dev/null): the cost of a line per request on top; the
 *                    table's first line says which mode ran.
 *   pounce+otel      the same with --otel-endpoint (pounce starts NodeSDK; 100% sampled:
 *                    OTEL_TRACES_SAMPLER=always_on; OTLP http/protobuf, the default)
 *   node:http        bare node:http
 *   node:http+otel   the same with NodeSDK + @opentelemetry/instrumentation-http
 *                    (tracing-otel-preload.cjs), OTLP http/protobuf, 100% sampled
 * Both traced servers export to the same local OTLP/HTTP receiver, which accepts
 * and counts (bench/apps/tracing-receiver.mjs). Rounds are interleaved (each
 * round runs all four, in a rotated order). Two measures, each the median over
 * rounds of a per-round comparison with the untraced twin (drift of the
 * machine cancels out): the server CPU time (user + system, from /proc) that
 * tracing adds per request, export included, which is the steadier of the two
 * on a shared machine; and the ratio of requests per second.
 * The load generator is wrk when /usr/bin/wrk (or wrk on PATH) exists,
 * autocannon otherwise; with taskset, servers get CPU 0 and the load generator
 * and receiver the other CPUs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const APPS = resolve(ROOT, 'bench/apps');

interface Options {
  /** 0 (default): --no-access-log, as the node:http servers log nothing; 1: pounce's default access log on (to /dev/null). */
  accessLog: number;
  rounds: number;
  duration: number;
  connections: number;
  warmup: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { accessLog: 0, rounds: 5, duration: 5, connections: 50, warmup: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    // --access-log → accessLog
    const key = argv[i]!.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = Number(argv[i + 1]);
    if (!(key in options) || !Number.isFinite(value) || value < (key === 'accessLog' ? 0 : 1e-9)) {
      throw new Error(
        `usage: bench/tracing.ts [--rounds N] [--duration SECONDS] [--connections N] [--warmup SECONDS] [--access-log 0|1] (bad: ${argv[i]} ${argv[i + 1]})`,
      );
    }
    options[key as keyof Options] = value;
  }
  options.rounds = Math.max(1, Math.floor(options.rounds));
  return options;
}

// --- processes ---------------------------------------------------------------

const children = new Set<ChildProcess>();
const hasTaskset = spawnSync('taskset', ['--version']).status === 0 && availableParallelism() >= 2;
const otherCpus = `1-${availableParallelism() - 1}`;

function pinned(cpus: string, command: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
}

/** Start a process that prints a JSON line with a `port` when it is ready. */
function startServer(name: string, cpus: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ port: number; proc: ChildProcess }> {
  const [cmd, argv] = pinned(cpus, command, args);
  const proc = spawn(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolvePromise, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 15 s; stderr: ${stderr}`)), 15_000);
    proc.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready; stderr: ${stderr}`)));
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as { port?: unknown; level?: string; msg?: string };
          if (parsed.level === 'warn' || parsed.level === 'error') process.stderr.write(`[${name}] ${line}\n`);
          if (typeof parsed.port === 'number') {
            clearTimeout(timer);
            resolvePromise({ port: parsed.port, proc });
          }
        } catch {
          // not JSON: ignore
        }
      }
    });
  });
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Start a server whose output nobody reads (stdout to /dev/null: pounce's access
 * lines cost the server, not the benchmark's load generator). `{PORT}` in args
 * and PORT in the environment name the port; ready when it accepts a connection.
 */
async function startQuiet(name: string, cpus: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const [cmd, argv] = pinned(cpus, command, args.map((a) => a.replace('{PORT}', String(port))));
  const proc = spawn(cmd, argv, { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited (${proc.exitCode}); stderr: ${stderr}`);
    const ok = await new Promise<boolean>((r) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        r(true);
      });
      socket.on('error', () => r(false));
    });
    if (ok) return { port, proc };
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port} within 15 s; stderr: ${stderr}`);
    await sleep(50);
  }
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POUNCE_') && !k.startsWith('OTEL_') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

function stopAll(): void {
  for (const proc of children) if (proc.exitCode === null) proc.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

// --- load ----------------------------------------------------------------------

interface Run {
  /** Server CPU time (user + system) per request, µs, export included. */
  cpuUs: number;
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p)) ?? (spawnSync('wrk', ['--version']).error ? undefined : 'wrk');

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

type Load = Omit<Run, 'cpuUs'>;

async function load(port: number, seconds: number, connections: number): Promise<Load> {
  const url = `http://127.0.0.1:${port}/`;
  if (WRK) {
    const [cmd, args] = pinned(otherCpus, WRK, ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--latency', url]);
    const out = await new Promise<string>((resolvePromise, reject) => {
      const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      proc.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
      proc.once('exit', (code) => (code === 0 ? resolvePromise(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
    });
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
    const pct = (p: string) => {
      const m = new RegExp(`\\b${p}%\\s+([\\d.]+)(us|ms|s|m)\\b`).exec(out);
      return m ? toMs(m[1]!, m[2]!) : NaN;
    };
    const errors = num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0;
    const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    return {
      rps: num(/Requests\/sec:\s+([\d.]+)/),
      requests: num(/(\d+) requests in/),
      p50Ms: pct('50'),
      p99Ms: pct('99'),
      errors: errors + (socketErrors ? socketErrors.slice(1).reduce((s, v) => s + Number(v), 0) : 0),
    };
  }
  const moduleName = 'autocannon'; // untyped package: loaded by name, only when wrk is missing
  const { default: autocannon } = (await import(moduleName)) as {
    default: (opts: object) => Promise<{ requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }>;
  };
  const result = await autocannon({ url, connections, duration: seconds });
  return { rps: result.requests.average, requests: result.requests.total, p50Ms: result.latency.p50, p99Ms: result.latency.p99, errors: result.non2xx + result.errors };
}

/** CPU time (user + system) a process has used so far, in µs (Linux /proc; NaN elsewhere). */
function cpuTimeUs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat; after "pid (comm) " they are at 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function receiverStats(port: number): Promise<{ exports: number; spans: number; bytes: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`);
  return (await res.json()) as { exports: number; spans: number; bytes: number };
}

// --- main --------------------------------------------------------------------------

type Key = 'pounce' | 'pounce+otel' | 'node:http' | 'node:http+otel';
const KEYS: Key[] = ['pounce', 'pounce+otel', 'node:http', 'node:http+otel'];
const TRACED: Record<Key, boolean> = { pounce: false, 'pounce+otel': true, 'node:http': false, 'node:http+otel': true };

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const cli = resolve(ROOT, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: build first (npx tsc -p tsconfig.json)');

  const receiver = await startServer('receiver', otherCpus, process.execPath, [resolve(APPS, 'tracing-receiver.mjs')], cleanEnv());
  const otlp = `http://127.0.0.1:${receiver.port}`;
  // Both traced servers: spans left after a run are exported within the settle pause; traces only, all sampled.
  const batchDelay = { OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_TRACES_SAMPLER: 'always_on', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' };
  const app = resolve(APPS, 'tracing-hello.mjs');
  const pounceArgs = [cli, app, '--port', '{PORT}', '--log-format', 'json', ...(options.accessLog ? [] : ['--no-access-log'])];
  const servers: Record<Key, { port: number; proc: ChildProcess }> = {
    pounce: await startQuiet('pounce', '0', process.execPath, pounceArgs, cleanEnv()),
    'pounce+otel': await startQuiet('pounce+otel', '0', process.execPath, [...pounceArgs, '--otel-endpoint', otlp], cleanEnv(batchDelay)),
    'node:http': await startQuiet('node:http', '0', process.execPath, [resolve(APPS, 'tracing-bare.mjs')], cleanEnv()),
    'node:http+otel': await startQuiet(
      'node:http+otel',
      '0',
      process.execPath,
      ['--require', resolve(APPS, 'tracing-otel-preload.cjs'), resolve(APPS, 'tracing-bare.mjs')],
      cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp, ...batchDelay }),
    ),
  };

  const tool = WRK ? `wrk -t1 -c${options.connections} -d${options.duration}s` : `autocannon -c ${options.connections} -d ${options.duration}`;
  console.error(
    `# tracing benchmark: ${options.rounds} rounds × 4 servers × ${options.duration} s (${tool})${hasTaskset ? ', servers on CPU 0, load on ' + otherCpus : ''}; pounce access log ${options.accessLog ? 'on' : 'off'}`,
  );
  for (const key of KEYS) {
    console.error(`warm-up ${key}`);
    await load(servers[key].port, options.warmup, options.connections);
  }
  await sleep(1000);

  const runs: Record<Key, Run[]> = { pounce: [], 'pounce+otel': [], 'node:http': [], 'node:http+otel': [] };
  const exported: Record<Key, { spans: number; requests: number }> = {
    pounce: { spans: 0, requests: 0 },
    'pounce+otel': { spans: 0, requests: 0 },
    'node:http': { spans: 0, requests: 0 },
    'node:http+otel': { spans: 0, requests: 0 },
  };
  for (let round = 0; round < options.rounds; round++) {
    const order = KEYS.map((_, i) => KEYS[(i + round) % KEYS.length]!);
    for (const key of order) {
      const before = await receiverStats(receiver.port);
      const cpuBefore = cpuTimeUs(servers[key].proc.pid);
      const result = await load(servers[key].port, options.duration, options.connections);
      // The settle pause lets the traced servers export what the run left queued: that CPU counts too.
      await sleep(700);
      const cpuAfter = cpuTimeUs(servers[key].proc.pid);
      const after = await receiverStats(receiver.port);
      const run: Run = { ...result, cpuUs: (cpuAfter - cpuBefore) / result.requests };
      runs[key].push(run);
      exported[key].spans += after.spans - before.spans;
      exported[key].requests += run.requests;
      console.error(`round ${round + 1} ${key.padEnd(15)} ${run.rps.toFixed(0).padStart(7)} req/s  ${run.cpuUs.toFixed(1).padStart(6)} CPU µs/req  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms${run.errors ? `  ERRORS ${run.errors}` : ''}`);
    }
  }

  // Per-round ratios traced/untraced, then their medians: drift of a shared machine cancels out.
  const perRound = (traced: Key, base: Key, f: (t: Run, b: Run) => number) => median(runs[traced].map((r, i) => f(r, runs[base][i]!)));
  const throughput = {
    pounce: perRound('pounce+otel', 'pounce', (t, b) => t.rps / b.rps),
    node: perRound('node:http+otel', 'node:http', (t, b) => t.rps / b.rps),
  };
  // What tracing adds, in server CPU time per request (export included): the steadier measure.
  const cpuCost = {
    pounce: perRound('pounce+otel', 'pounce', (t, b) => t.cpuUs - b.cpuUs),
    node: perRound('node:http+otel', 'node:http', (t, b) => t.cpuUs - b.cpuUs),
  };
  const med = (key: Key, f: (r: Run) => number) => median(runs[key].map(f));
  const isPounce = (key: Key) => key.startsWith('pounce');

  const rows = KEYS.map((key) => {
    const traced = TRACED[key];
    const ratio = traced ? (isPounce(key) ? throughput.pounce : throughput.node).toFixed(3) : '1';
    const cost = traced ? `+${(isPounce(key) ? cpuCost.pounce : cpuCost.node).toFixed(1)}` : '—';
    const spans = traced ? `${exported[key].spans} / ${exported[key].requests}` : '—';
    return `| ${key} | ${med(key, (x) => x.rps).toFixed(0)} | ${med(key, (x) => x.cpuUs).toFixed(1)} | ${cost} | ${ratio} | ${med(key, (x) => x.p50Ms).toFixed(2)} | ${med(key, (x) => x.p99Ms).toFixed(2)} | ${spans} |`;
  });
  const floor = perRound('pounce+otel', 'node:http+otel', (p, n) => p.rps / n.rps);
  const errors = KEYS.reduce((s, k) => s + runs[k].reduce((t, r) => t + r.errors, 0), 0);
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

  const lines = [
    `Tracing overhead: ${options.rounds} interleaved rounds × ${options.duration} s, ${tool}, hello world, Node ${process.versions.node}, ${availableParallelism()} CPUs, pounce access log ${options.accessLog ? 'on (its default; the node:http servers log nothing)' : 'off (--no-access-log, as the node:http servers log nothing; --access-log 1 for pounce\'s default)'}`,
    '',
    '| server | req/s (median) | CPU µs/req (median) | tracing adds, CPU µs/req (median of rounds) | traced/untraced req/s (median of rounds) | p50 ms | p99 ms | spans exported / requests |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `pounce's tracing costs ${pct(cpuCost.pounce / cpuCost.node)} of what instrumentation-http costs in CPU per request ` +
      `(${cpuCost.pounce.toFixed(1)} vs ${cpuCost.node.toFixed(1)} µs), ` +
      `and ${pct((1 - throughput.pounce) / (1 - throughput.node))} of its throughput loss (${pct(1 - throughput.pounce)} vs ${pct(1 - throughput.node)}).`,
    `pounce+otel / node:http+otel req/s (median of rounds): ${floor.toFixed(2)}× — floor 2×: ${floor >= 2 ? 'met' : 'MISSED'}.`,
    errors ? `WARNING: ${errors} non-2xx responses or socket errors during the runs.` : 'No errors or non-2xx responses.',
  ];
  console.log(lines.join('\n'));
  stopAll();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
