#!/usr/bin/env node
// Paired runs of a few variants on a shared, noisy machine: which is cheaper?
//
//   node bench/pair.mjs --variants node-http,hono-node-server,pounce-fetch [--cycles 12] [--duration 2]
//
// Every variant's server (from bench/run.mjs's list) starts once and stays up;
// the load then visits them in short runs, the order reversed every other
// cycle (A B C, C B A, ...), so drifts and bursts from other processes fall on
// all alike. Per run: req/s, and the server's CPU µs per request from
// /proc/<pid>/stat (utime + stime over the measured window), which depends far
// less on what else the machine is doing than req/s does. Reported per
// variant: medians, and the median over cycles of its ratio to the first
// variant (req/s ratio, and CPU ratio = first's µs/req over this one's: both
// > 1 when this variant is the faster).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  CLI, VARIANTS, checkWrk, cpuSeconds, fail, machine, makeTemp, median, runWrk, snapshotPounce, startServer, stopServer,
} from './run.mjs';

const args = process.argv.slice(2);
const opts = { variants: ['node-http', 'hono-node-server', 'pounce-fetch'], cycles: 12, duration: 2, warmup: 2, connections: 50, threads: 1, pin: false, portBase: 18480, out: undefined };
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
    case '--variants': opts.variants = value().split(',').map((s) => s.trim()).filter(Boolean); break;
    case '--cycles': opts.cycles = num(); break;
    case '--duration': opts.duration = num(); break;
    case '--warmup': opts.warmup = num(); break;
    case '--connections': opts.connections = num(); break;
    case '--pin': opts.pin = true; break;
    case '--port-base': opts.portBase = num(); break;
    case '--out': opts.out = resolve(value()); break;
    case '-h': case '--help':
      process.stdout.write('Usage: node bench/pair.mjs [--variants a,b,c] [--cycles N] [--duration S] [--warmup S] [--connections C] [--pin] [--out FILE]\n');
      process.exit(0);
      break;
    default: fail(`unknown option ${arg} (see --help)`);
  }
}
const variants = opts.variants.map((name) => VARIANTS.find((v) => v.name === name) ?? fail(`unknown variant ${name}; variants: ${VARIANTS.map((v) => v.name).join(', ')}`));
if (variants.length < 2) fail('--variants needs at least two');

const wrkVersion = checkWrk();
const tmp = makeTemp();
const pounceDir = variants.some((v) => v.cmd.includes(CLI)) ? snapshotPounce() : undefined;
const servers = [];
for (const [i, v] of variants.entries()) {
  const port = opts.portBase + i;
  const child = await startServer({ ...v, pounceDir }, port, join(tmp, `${v.name}.log`), join(tmp, `${v.name}.err`), opts.pin, 'a');
  servers.push({ variant: v, port, child, runs: [] });
}

async function load(server, seconds) {
  const before = cpuSeconds(server.child.pid);
  const run = await runWrk(server.port, seconds, { ...opts, path: server.variant.path }, false);
  const after = cpuSeconds(server.child.pid);
  return { rps: run.rps, cpu_us_per_req: before !== undefined && after !== undefined && run.requests > 0 ? ((after - before) * 1e6) / run.requests : null };
}

const started = new Date();
process.stderr.write(`pair: ${variants.map((v) => v.name).join(' vs ')}; ${opts.cycles} cycles of ${opts.duration} s runs\n`);
try {
  for (const s of servers) await load(s, opts.warmup);
  for (let c = 0; c < opts.cycles; c++) {
    const order = c % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) s.runs.push(await load(s, opts.duration));
    process.stderr.write(`  cycle ${c + 1}/${opts.cycles}  ${servers.map((s) => `${s.variant.name} ${Math.round(s.runs[c].rps)} req/s ${s.runs[c].cpu_us_per_req?.toFixed(1)} µs`).join('  |  ')}\n`);
  }
} finally {
  for (const s of servers) await stopServer(s.child);
}

const first = servers[0];
const round3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
const q = (values, p) => {
  const v = values.filter((x) => x != null).sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] : null;
};
const results = servers.map((s) => {
  const rpsRatios = s.runs.map((r, i) => r.rps / first.runs[i].rps);
  const cpuRatios = s.runs.map((r, i) => (r.cpu_us_per_req && first.runs[i].cpu_us_per_req ? first.runs[i].cpu_us_per_req / r.cpu_us_per_req : null));
  return {
    name: s.variant.name,
    description: s.variant.description,
    rps_median: Math.round(median(s.runs.map((r) => r.rps))),
    cpu_us_per_req_median: round3(median(s.runs.map((r) => r.cpu_us_per_req))),
    rps_ratio_median: round3(median(rpsRatios)),
    rps_ratio_q1_q3: [round3(q(rpsRatios, 0.25)), round3(q(rpsRatios, 0.75))],
    cpu_ratio_median: round3(median(cpuRatios)),
    cpu_ratio_q1_q3: [round3(q(cpuRatios, 0.25)), round3(q(cpuRatios, 0.75))],
    runs: s.runs,
  };
});
const report = { date: started.toISOString(), machine: machine(wrkVersion), settings: opts, baseline: first.variant.name, variants: results };
const out = opts.out ?? join(dirname(new URL(import.meta.url).pathname), 'results', `pair-${started.toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
const rows = [
  `| variant | req/s (median) | req/s ratio to ${first.variant.name} (median, q1–q3) | server CPU µs/req (median) | CPU ratio (median, q1–q3) |`,
  '|---|---:|---:|---:|---:|',
  ...results.map((r) => `| ${r.name} | ${r.rps_median.toLocaleString('en-US')} | ${r.rps_ratio_median.toFixed(3)} (${r.rps_ratio_q1_q3.map((x) => x.toFixed(2)).join('–')}) | ${r.cpu_us_per_req_median.toFixed(2)} | ${r.cpu_ratio_median.toFixed(3)} (${r.cpu_ratio_q1_q3.map((x) => x.toFixed(2)).join('–')}) |`),
];
process.stdout.write(`\n${rows.join('\n')}\n\nresults: ${out}\n`);
