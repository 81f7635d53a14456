#!/usr/bin/env node
// A/B of two pounce builds on one variant: did a change make pounce faster?
//
//   node bench/ab.mjs --b DIR [--a DIR] [--variant pounce-debug] [--pairs 20] [--duration 2]
//
// DIR is a directory holding a built dist/ (e.g. a copy of the tree with the
// change reverted, built with `npx tsc -p tsconfig.json --outDir DIR/dist`);
// --a defaults to this checkout. Both servers start once and stay up; the
// load alternates between them in short runs, ABBA-ordered (A B, B A, A B...),
// so slow drifts and bursts of noise from other processes fall on both alike.
// Reported: the median over pairs of B's req/s over A's, and of A's server CPU
// per request over B's (both > 1 when B is faster), with their quartiles and
// how many pairs B won.

import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import {
  CLI, ROOT, VARIANTS, checkWrk, cpuSeconds, fail, machine, makeTemp, median, runWrk, snapshotPounce, startServer, stopServer,
} from './run.mjs';

const args = process.argv.slice(2);
const opts = { a: ROOT, b: undefined, variant: 'pounce-debug', pairs: 20, duration: 2, warmup: 2, connections: 50, threads: 1, pin: false, portBase: 18460, out: undefined };
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const value = () => {
    if (i + 1 >= args.length) fail(`${arg} needs a value`);
    return args[++i];
  };
  const num = () => {
    const n = Number(value());
    if (!Number.isInteger(n) || n < 1) fail(`${arg} expects a whole number >= 1`);
    return n;
  };
  switch (arg) {
    case '--a': opts.a = resolve(value()); break;
    case '--b': opts.b = resolve(value()); break;
    case '--variant': opts.variant = value(); break;
    case '--pairs': opts.pairs = num(); break;
    case '--duration': opts.duration = num(); break;
    case '--warmup': opts.warmup = num(); break;
    case '--connections': opts.connections = num(); break;
    case '--pin': opts.pin = true; break;
    case '--port-base': opts.portBase = num(); break;
    case '--out': opts.out = resolve(value()); break;
    case '-h': case '--help':
      process.stdout.write('Usage: node bench/ab.mjs --b DIR [--a DIR] [--variant NAME] [--pairs N] [--duration S] [--warmup S] [--connections C] [--pin] [--out FILE]\n');
      process.exit(0);
      break;
    default: fail(`unknown option ${arg} (see --help)`);
  }
}
if (!opts.b) fail('--b DIR is required: the pounce build to compare with (a directory holding dist/)');
const variant = VARIANTS.find((v) => v.name === opts.variant);
if (!variant || !variant.cmd.includes(CLI)) fail(`--variant must be one of ${VARIANTS.filter((v) => v.cmd.includes(CLI)).map((v) => v.name).join(', ')}`);

const wrkVersion = checkWrk();
const tmp = makeTemp();
const sides = [
  { label: 'A', dir: opts.a, port: opts.portBase },
  { label: 'B', dir: opts.b, port: opts.portBase + 1 },
];
for (const side of sides) {
  side.pounceDir = snapshotPounce(side.dir, `pounce-${side.label}`);
  side.log = join(tmp, `${side.label}.log`);
  side.child = await startServer({ ...variant, name: `${variant.name} (${side.label})`, pounceDir: side.pounceDir }, side.port, side.log, join(tmp, `${side.label}.err`), opts.pin, 'a');
}

async function once(side, seconds) {
  truncateSync(side.log, 0); // the log is opened for appending: it restarts at 0 bytes
  const before = cpuSeconds(side.child.pid);
  const run = await runWrk(side.port, seconds, opts, false);
  const after = cpuSeconds(side.child.pid);
  return { rps: run.rps, cpu_us_per_req: before !== undefined && after !== undefined ? ((after - before) * 1e6) / run.requests : null };
}

const started = new Date();
process.stderr.write(`ab: ${variant.name}, A = ${opts.a}, B = ${opts.b}; ${opts.pairs} pairs of ${opts.duration} s runs\n`);
try {
  for (const side of sides) await once(side, opts.warmup);
  const pairs = [];
  for (let i = 0; i < opts.pairs; i++) {
    const order = i % 2 === 0 ? sides : [sides[1], sides[0]];
    const result = {};
    for (const side of order) result[side.label] = await once(side, opts.duration);
    const pair = {
      a_rps: result.A.rps,
      b_rps: result.B.rps,
      a_cpu_us_per_req: result.A.cpu_us_per_req,
      b_cpu_us_per_req: result.B.cpu_us_per_req,
      rps_ratio: result.B.rps / result.A.rps,
      cpu_ratio: result.A.cpu_us_per_req && result.B.cpu_us_per_req ? result.A.cpu_us_per_req / result.B.cpu_us_per_req : null,
    };
    pairs.push(pair);
    process.stderr.write(
      `  pair ${String(i + 1).padStart(2)}  A ${Math.round(pair.a_rps)} req/s ${pair.a_cpu_us_per_req?.toFixed(1)} µs/req   B ${Math.round(pair.b_rps)} req/s ${pair.b_cpu_us_per_req?.toFixed(1)} µs/req   B/A ${pair.rps_ratio.toFixed(3)}\n`,
    );
  }
  const quartiles = (xs) => {
    const v = xs.filter((x) => x != null).sort((p, q) => p - q);
    const at = (f) => v[Math.min(v.length - 1, Math.floor(f * (v.length - 1) + 0.5))];
    return { q1: at(0.25), median: median(v), q3: at(0.75) };
  };
  const rps = quartiles(pairs.map((p) => p.rps_ratio));
  const cpu = quartiles(pairs.map((p) => p.cpu_ratio));
  const summary = {
    variant: variant.name,
    a: opts.a,
    b: opts.b,
    rps_ratio_b_over_a: rps,
    cpu_ratio_a_over_b: cpu,
    b_faster_pairs: pairs.filter((p) => p.rps_ratio > 1).length,
    b_cheaper_pairs: pairs.filter((p) => p.cpu_ratio > 1).length,
    a_rps_median: median(pairs.map((p) => p.a_rps)),
    b_rps_median: median(pairs.map((p) => p.b_rps)),
    a_cpu_us_per_req_median: median(pairs.map((p) => p.a_cpu_us_per_req)),
    b_cpu_us_per_req_median: median(pairs.map((p) => p.b_cpu_us_per_req)),
  };
  const out = opts.out ?? join(ROOT, 'bench', 'results', `ab-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: started.toISOString(), machine: machine(wrkVersion), settings: opts, summary, pairs }, null, 2) + '\n');
  const f = (x) => x.toFixed(3);
  process.stdout.write(
    `\n${variant.name}: B/A req/s median ${f(rps.median)} (quartiles ${f(rps.q1)}–${f(rps.q3)}), B faster in ${summary.b_faster_pairs}/${pairs.length} pairs\n` +
      `${' '.repeat(variant.name.length)}  A/B CPU per request median ${f(cpu.median)} (quartiles ${f(cpu.q1)}–${f(cpu.q3)}), B cheaper in ${summary.b_cheaper_pairs}/${pairs.length} pairs\n` +
      `  A ${Math.round(summary.a_rps_median)} req/s, ${summary.a_cpu_us_per_req_median.toFixed(1)} µs/req;  B ${Math.round(summary.b_rps_median)} req/s, ${summary.b_cpu_us_per_req_median.toFixed(1)} µs/req\n` +
      `results: ${relative(process.cwd(), out) || out}\n`,
  );
} finally {
  for (const side of sides) await stopServer(side.child);
}
