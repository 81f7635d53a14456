#!/usr/bin/env node
// CPU instructions per request of the tracing benchmark's servers (bench/tracing.ts),
// counted by valgrind (callgrind): a measure that does not move with the machine's
// speed or load, to decide changes by on a noisy VM.
//
//   npx tsc -p tsconfig.json && node bench/tracing-instructions.mjs [--only pounce+otel,node:http+otel] [--requests N] [--dist DIR]
//
// --dist: a pounce build other than this checkout's dist/ (e.g. `npx tsc -p tsconfig.json --outDir /tmp/b/dist`).
//
// As bench/instructions.mjs: each server runs under valgrind twice, loaded with
// 5,000 and with 5,000 + N (default 20,000) requests from h2load over 20 keep-alive
// connections; the difference over N is the marginal cost of a request, start-up and
// JIT warm-up cancelled out. The traced servers export (OTLP http/protobuf, 100%
// sampled, OTEL_BSP_SCHEDULE_DELAY=200 as in bench:tracing) to the benchmark's
// receiver, which runs outside valgrind; the export's instructions are in the count
// (user space only: the kernel's part of a request is not). Takes ~2-4 min per server.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const APPS = join(ROOT, 'bench/apps');
const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (message) => {
  process.stderr.write(`tracing-instructions: ${message}\n`);
  process.exit(1);
};

const args = process.argv.slice(2);
let only;
let requests = 20000;
let distDir = join(ROOT, 'dist');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--only') only = args[++i].split(',');
  else if (args[i] === '--requests') requests = Number(args[++i]);
  else if (args[i] === '--dist') distDir = resolve(args[++i]);
  else fail(`unknown option ${args[i]}; usage: node bench/tracing-instructions.mjs [--only a,b] [--requests N] [--dist DIR]`);
}
if (!(requests >= 10000)) fail('--requests must be at least 10000 (fewer leave JIT warm-up in the difference)');
for (const tool of ['valgrind', 'h2load']) {
  if (spawnSync(tool, ['--version']).error) fail(`${tool} is missing: apt-get install -y valgrind nghttp2-client`);
}

const tmp = mkdtempSync(join(tmpdir(), 'pounce-trace-instr-'));
// The build under test, copied at start: a rebuild while this runs does not mix two builds.
const build = join(tmp, 'pounce');
cpSync(distDir, join(build, 'dist'), { recursive: true });
cpSync(join(ROOT, 'package.json'), join(build, 'package.json'));
symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'), 'dir');

const traced = { OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_TRACES_SAMPLER: 'always_on', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' };
const cli = join(build, 'dist/cli.js');
const pounceArgs = [cli, join(APPS, 'tracing-hello.mjs'), '--host', HOST, '--port', '{port}', '--log-format', 'json', '--no-access-log'];
const SERVERS = [
  { name: 'pounce', argv: pounceArgs, env: {} },
  { name: 'pounce+otel', argv: [...pounceArgs, '--otel-endpoint', '{otlp}'], env: traced },
  { name: 'node:http', argv: [join(APPS, 'tracing-bare.mjs')], env: {} },
  { name: 'node:http+otel', argv: ['--require', join(APPS, 'tracing-otel-preload.cjs'), join(APPS, 'tracing-bare.mjs')], env: { ...traced, OTEL_EXPORTER_OTLP_ENDPOINT: '{otlp}' } },
];
const servers = SERVERS.filter((s) => (only ? only.includes(s.name) : s.name.endsWith('+otel')));
if (only && servers.length !== only.length) fail(`unknown server in ${only.join(',')}; servers: ${SERVERS.map((s) => s.name).join(', ')}`);

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POUNCE_') && !k.startsWith('OTEL_') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra, NODE_ENV: 'production' };
}

// The receiver, outside valgrind.
const receiver = spawn(process.execPath, [join(APPS, 'tracing-receiver.mjs')], { cwd: ROOT, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'inherit'] });
const receiverPort = await new Promise((resolvePort, reject) => {
  let text = '';
  receiver.stdout.setEncoding('utf8').on('data', (c) => {
    text += c;
    const m = /"port":(\d+)/.exec(text);
    if (m) resolvePort(Number(m[1]));
  });
  receiver.once('exit', () => reject(new Error('the receiver exited')));
});
process.on('exit', () => receiver.kill('SIGTERM'));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const otlp = `http://${HOST}:${receiverPort}`;
const stats = async () => (await (await fetch(`${otlp}/stats`)).json()).spans;

const port = Number(process.env.PORT_BASE ?? 18391);
const WARM = 5000;

/** Total instructions of the server after `total` requests (and its exit). */
async function count(server, total) {
  const sub = (a) => a.replace('{port}', String(port)).replace('{otlp}', otlp);
  const out = join(tmp, 'callgrind.out');
  const log = join(tmp, 'valgrind.log');
  const env = cleanEnv(Object.fromEntries(Object.entries(server.env).map(([k, v]) => [k, sub(v)])));
  env.PORT = String(port);
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`, `--log-file=${log}`, process.execPath, ...server.argv.map(sub)], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'ignore'],
    env,
  });
  const exited = new Promise((r) => child.once('exit', r));
  const url = `http://${HOST}:${port}/`;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (spawnSync('h2load', ['--h1', '-n', '1', '-c', '1', url], { encoding: 'utf8' }).stdout?.includes('1 succeeded')) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      fail(`${server.name} did not answer under valgrind`);
    }
    await sleep(500);
  }
  const before = await stats();
  const load = spawnSync('h2load', ['--h1', '-n', String(total - 1), '-c', '20', '-t', '1', url], { encoding: 'utf8', timeout: 900_000 });
  if (!/ (\d+) succeeded/.test(load.stdout) || Number(/ (\d+) succeeded/.exec(load.stdout)[1]) !== total - 1) {
    child.kill('SIGKILL');
    fail(`${server.name}: h2load did not complete its requests:\n${load.stdout}${load.stderr}`);
  }
  // Let the last batch go out (schedule delay 200 ms, slower under valgrind).
  await sleep(3000);
  child.kill('SIGTERM');
  await exited;
  const spans = (await stats()) - before;
  const collected = /Collected : (\d+)/.exec(readFileSync(log, 'utf8'));
  rmSync(out, { force: true });
  if (!collected) fail(`${server.name}: no instruction count in valgrind's log`);
  return { instructions: Number(collected[1]), spans };
}

const rows = [];
for (const server of servers) {
  const low = await count(server, WARM);
  const high = await count(server, WARM + requests);
  const perRequest = Math.round((high.instructions - low.instructions) / requests);
  rows.push({ name: server.name, perRequest });
  process.stderr.write(`${server.name.padEnd(16)} ${perRequest} instructions/request (spans exported: ${low.spans}, ${high.spans})\n`);
}
process.stdout.write(`\n| server | instructions/request |\n|---|---:|\n`);
for (const r of rows) process.stdout.write(`| ${r.name} | ${r.perRequest.toLocaleString('en-US')} |\n`);
rmSync(tmp, { recursive: true, force: true });
receiver.kill('SIGTERM');
