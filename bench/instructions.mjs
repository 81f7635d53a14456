#!/usr/bin/env node
// CPU instructions per request, counted by valgrind (callgrind), for the
// variants of run.mjs: a measure that does not move with the machine's speed
// or load (wall-clock req/s on a shared 2-core VM moves ±20% within minutes).
//
//   node bench/instructions.mjs [--only a,b] [--requests N] [--cache-sim] [--port P]
//
// Each variant's server runs under valgrind twice, once loaded with 5,000
// requests and once with 5,000 + N (default 20,000), from h2load over 20
// keep-alive connections; the difference over N is the marginal cost of a
// request, start-up and JIT warm-up cancelled out. Counts are user-space
// instructions of every thread of the server (the kernel's work, about half of
// a bare node:http request's CPU time, is not in them; neither is anything
// that depends on timing, such as how many lines share one write(2)). Repeat
// runs of one build agree within ~3.5k instructions per request (timing still
// decides how many requests share an event-loop turn, and when the JIT steps in).
//
// Most of that spread is V8's garbage collector and optimizing compiler: one
// major GC more or less in the window, a function re-optimized or not. The
// second column leaves their functions out (by symbol, from callgrind's
// per-function counts): what the server's own code and node's cost, which
// repeat runs of one build reproduce within ~1k instructions. It
// is the column to compare builds by; the first is what a request costs in
// all. Needs valgrind and h2load (apt-get install -y valgrind nghttp2-client).
// Takes ~1-3 min per variant.
//
// --cache-sim adds valgrind's simulated caches and branch predictor (twice as
// slow): per request, the instruction-cache misses (I1, 32 KiB, the host's
// geometry), data-cache read misses (D1) and mispredicted branches. Two
// servers with the same instruction count can differ in these, and each
// costs cycles that the instruction count does not show: a request that runs
// more distinct code misses more in the instruction cache.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CLI, HOST, ROOT, VARIANTS, fail, makeTemp, sleep, snapshotPounce } from './run.mjs';

const args = process.argv.slice(2);
let only;
let requests = 20000;
let cacheSim = false;
let port = 18390;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--only') only = args[++i].split(',');
  else if (args[i] === '--requests') requests = Number(args[++i]);
  else if (args[i] === '--cache-sim') cacheSim = true;
  else if (args[i] === '--port') port = Number(args[++i]);
  else fail(`unknown option ${args[i]}; usage: node bench/instructions.mjs [--only a,b] [--requests N] [--cache-sim] [--port P]`);
}
if (!(Number.isInteger(port) && port > 0 && port < 65536)) fail('--port must be a port number (1-65535)');
if (!(requests >= 10000)) fail('--requests must be at least 10000 (fewer leave JIT warm-up in the difference)');
for (const tool of ['valgrind', 'h2load']) {
  if (spawnSync(tool, ['--version']).error) fail(`${tool} is missing: apt-get install -y valgrind nghttp2-client`);
}
const variants = VARIANTS.filter((v) => (only ? only.includes(v.name) : !v.peer && !v.byName));
if (only && variants.length !== only.length) fail(`unknown variant in ${only.join(',')}; variants: ${VARIANTS.map((v) => v.name).join(', ')}`);

const tmp = makeTemp();
const pounceDir = snapshotPounce();
const WARM = 5000;

/**
 * V8's garbage collector and optimizing compiler, by C++ symbol (node's binary
 * has them): their share of a window swings with when a major GC or a
 * re-optimization lands in it.
 */
const GC_OR_COMPILER =
  /v8::internal::(?:Heap\b|Heap::|Scaveng|MarkCompact|Marking|ConcurrentMarking|Sweeper|Evacuat|MemoryAllocator|RootScavengeVisitor|GlobalHandles|compiler::|maglev::|Zone|Compiler|OptimizingCompileDispatcher|BodyDescriptorBase::IteratePointers|HeapObject::SizeFromMap)|heap::base::|IterateObjectCache|MemoryChunk|Scavenger/;

/** Instructions of a callgrind profile outside GC_OR_COMPILER's functions. */
function withoutGcAndCompiler(file, name) {
  const annotated = spawnSync('callgrind_annotate', ['--threshold=100', '--auto=no', '--show=Ir', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (annotated.status !== 0) fail(`${name}: callgrind_annotate failed: ${annotated.stderr}`);
  let total = 0;
  let functions = 0;
  for (const line of annotated.stdout.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m || m[2] === 'PROGRAM TOTALS') continue;
    functions++;
    if (!GC_OR_COMPILER.test(m[2])) total += Number(m[1].replaceAll(',', ''));
  }
  if (functions === 0) fail(`${name}: no functions in callgrind's profile`);
  return total;
}

/** callgrind's event totals (Ir, and with --cache-sim I1mr, D1mr, Bcm, Bim, ...) from its output file. */
function eventTotals(file, name) {
  const text = readFileSync(file, 'utf8');
  const events = /^events: (.*)$/m.exec(text);
  const totals = /^(?:summary|totals): (.*)$/m.exec(text);
  if (!events || !totals) fail(`${name}: no event totals in callgrind's output`);
  const values = totals[1].trim().split(/\s+/).map(Number);
  return Object.fromEntries(events[1].trim().split(/\s+/).map((event, i) => [event, values[i] ?? 0]));
}

/** Fails unless `port` is free: the load must reach this run's server, not another's (a second run of this tool). */
async function assertFree(port) {
  const probe = createServer();
  const error = await new Promise((resolve) => {
    probe.once('error', resolve);
    probe.listen(port, HOST, () => resolve(undefined));
  });
  if (error) fail(`port ${port} is in use (${error.code}): another server would take this run's load; pick one with --port`);
  await new Promise((resolve) => probe.close(resolve));
}

/** Instructions of the server after `count` requests (and its exit): in all, and without GC and compiler. */
async function count(variant, total) {
  await assertFree(port);
  const argv = variant.cmd.map((a) => a.replace('{port}', String(port)).replace('{pounce}', pounceDir));
  const out = join(tmp, 'callgrind.out');
  const log = join(tmp, 'valgrind.log');
  const simulate = cacheSim ? ['--cache-sim=yes', '--branch-sim=yes'] : [];
  const child = spawn('valgrind', ['--tool=callgrind', ...simulate, '--smc-check=all-non-file', `--callgrind-out-file=${out}`, `--log-file=${log}`, process.execPath, ...argv], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, ...variant.env, PORT: String(port), NODE_ENV: 'production' },
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://${HOST}:${port}${variant.path ?? '/'}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (spawnSync('h2load', ['--h1', '-n', '1', '-c', '1', url], { encoding: 'utf8' }).stdout?.includes('1 succeeded')) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      fail(`${variant.name} did not answer under valgrind`);
    }
    await sleep(500);
  }
  const load = spawnSync('h2load', ['--h1', '-n', String(total - 1), '-c', '20', '-t', '1', url], { encoding: 'utf8', timeout: 600_000 });
  if (!/ (\d+) succeeded/.test(load.stdout) || Number(/ (\d+) succeeded/.exec(load.stdout)[1]) !== total - 1) {
    child.kill('SIGKILL');
    fail(`${variant.name}: h2load did not complete its requests:\n${load.stdout}${load.stderr}`);
  }
  // A server that could not listen exits at once; the load then went to whatever holds the port.
  if (child.exitCode !== null) fail(`${variant.name}: the server exited before its load was done (port ${port} taken?); pick another with --port`);
  child.kill('SIGTERM');
  await exited;
  const collected = /Collected : (\d+)/.exec(readFileSync(log, 'utf8'));
  if (!collected) fail(`${variant.name}: no instruction count in valgrind's log`);
  const mutator = withoutGcAndCompiler(out, variant.name);
  const events = eventTotals(out, variant.name);
  rmSync(out, { force: true });
  return { all: Number(collected[1]), mutator, events };
}

const rows = [];
for (const variant of variants) {
  const low = await count(variant, WARM);
  const high = await count(variant, WARM + requests);
  const perRequest = Math.round((high.all - low.all) / requests);
  const mutator = Math.round((high.mutator - low.mutator) / requests);
  const marginal = (event) => Math.round(((high.events[event] ?? 0) - (low.events[event] ?? 0)) / requests);
  const sim = cacheSim ? { i1: marginal('I1mr'), d1: marginal('D1mr'), branches: marginal('Bcm') + marginal('Bim') } : undefined;
  rows.push({ name: variant.name, perRequest, mutator, sim });
  process.stderr.write(
    `${variant.name.padEnd(22)} ${perRequest} instructions/request, ${mutator} without GC and compiler` +
      (sim ? `; ${sim.i1} I1 misses, ${sim.d1} D1 read misses, ${sim.branches} mispredicted branches` : '') +
      '\n',
  );
}
const base = rows.find((r) => r.name === 'node-http');
const over = (value, baseValue) => (base ? (value >= baseValue ? '+' : '') + (value - baseValue).toLocaleString('en-US') : '');
const simHead = cacheSim ? ' I1 misses | D1 read misses | mispredicted branches |' : '';
process.stdout.write(
  `\n| variant | instructions/request | vs node-http | without GC and compiler | vs node-http |${simHead}\n|---|---:|---:|---:|---:|${cacheSim ? '---:|---:|---:|' : ''}\n`,
);
for (const r of rows) {
  const simCells = r.sim ? ` ${r.sim.i1} | ${r.sim.d1} | ${r.sim.branches} |` : '';
  process.stdout.write(
    `| ${r.name} | ${r.perRequest.toLocaleString('en-US')} | ${over(r.perRequest, base?.perRequest)} | ${r.mutator.toLocaleString('en-US')} | ${over(r.mutator, base?.mutator)} |${simCells}\n`,
  );
}
rmSync(tmp, { recursive: true, force: true });
