#!/usr/bin/env node
// The README's Performance table, from bench results: one unpinned run and,
// optionally, one pinned run (`npm run bench -- --rounds 5 [--pin] --out FILE`).
//
//   node bench/table.mjs UNPINNED.json [PINNED.json]
//
// Prints markdown: the machine and bare node:http's req/s and CPU per request
// of each run, then per variant its log lines per request, ratio to bare
// node:http and server CPU µs per request, and the floor with whether it held.
import { readFileSync } from 'node:fs';

const [unpinnedFile, pinnedFile] = process.argv.slice(2);
if (!unpinnedFile) {
  process.stderr.write('usage: node bench/table.mjs UNPINNED.json [PINNED.json]\n');
  process.exit(2);
}
const runs = [unpinnedFile, pinnedFile].filter(Boolean).map((f) => JSON.parse(readFileSync(f, 'utf8')));
const LABELS = {
  'pounce-off': 'pounce, logging off',
  'pounce-info': 'pounce, lifecycle at `info` (every request tracked, no line)',
  'pounce-debug': 'pounce, lifecycle at `debug`, json',
  'pounce-access': 'pounce, access log, json',
  'pounce-defaults': 'pounce with no flags (text format, access log)',
  'pounce-fetch': 'pounce serving a fetch app (`new Response`)',
  'fastify-logger': 'fastify 5 with its pino logger',
  'node-pino-http': 'node:http + pino-http',
};
const name = (r) => (r.settings.pin ? 'pinned' : 'unpinned');
const byName = (run, n) => run.variants.find((v) => v.name === n);
const m = runs[0].machine;
const lines = [];
lines.push(`${m.cpus} cores ${m.cpu_model}, ${m.os}, Node ${m.node.replace(/^v/, '')}, ${m.wrk}; wrk -t${runs[0].settings.threads} -c${runs[0].settings.connections}, ${runs[0].settings.duration} s runs.`);
for (const run of runs) {
  const bare = byName(run, 'node-http');
  const foreign = Math.max(...run.variants.map((v) => v.foreign_cpu_max ?? 0));
  lines.push(
    `- ${name(run)}, \`npm run bench -- --rounds ${run.settings.rounds}${run.settings.pin ? ' --pin' : ''}\` (${run.date.slice(0, 16).replace('T', ' ')} UTC${run.settings.pin ? ', server and all its threads on CPU 0, wrk on CPU 1' : ''}): bare node:http ${Math.round(bare.rps_median).toLocaleString('en-US')} req/s, ${bare.cpu_us_per_req_median} µs CPU/request; other processes used up to ${foreign} cores during a run.`,
  );
}
lines.push('');
const head = ['variant', 'log lines per request', ...runs.flatMap((r) => [`ratio (${name(r)})`, `CPU µs/req (${name(r)})`]), 'floor'];
lines.push(`| ${head.join(' | ')} |`);
lines.push(`|${head.map((_, i) => (i === 0 || i === head.length - 1 ? '---' : '---:')).join('|')}|`);
for (const v of runs[0].variants) {
  if (v.name === 'node-http' || v.name.includes('@')) continue;
  const cells = [LABELS[v.name] ?? v.name, String(v.log_lines_per_req ?? '')];
  for (const run of runs) {
    const r = byName(run, v.name);
    cells.push(r?.ratio_median == null ? '' : r.ratio_median.toFixed(2), r?.cpu_us_per_req_median == null ? '' : String(r.cpu_us_per_req_median));
  }
  // A variant a run did not measure says so, rather than "missed".
  const verdict = (run) => {
    const r = byName(run, v.name);
    return `${name(run)} ${r === undefined ? 'not run' : r.floor_held ? 'held' : 'missed'}`;
  };
  const floor = v.floor == null ? '' : `>= ${v.floor.toFixed(2)}: ${runs.map(verdict).join(', ')}`;
  cells.push(floor);
  lines.push(`| ${cells.join(' | ')} |`);
}
process.stdout.write(lines.join('\n') + '\n');
