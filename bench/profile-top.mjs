#!/usr/bin/env node
// Summarise a V8 .cpuprofile (node --cpu-prof): the functions with the most
// self time, and the most inclusive time among pounce's own code.
//
//   node bench/profile-top.mjs FILE.cpuprofile [--top N] [--match TEXT]
//
// --match keeps the inclusive list to frames whose file contains TEXT
// (default: /dist/, i.e. pounce's compiled sources).

import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
let top = 25;
let match = '/dist/';
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--match') match = args[++i];
  else if (args[i] === '-h' || args[i] === '--help') {
    process.stdout.write('Usage: node bench/profile-top.mjs FILE.cpuprofile [--top N] [--match TEXT]\n');
    process.exit(0);
  } else files.push(args[i]);
}
if (files.length !== 1) {
  process.stderr.write('Usage: node bench/profile-top.mjs FILE.cpuprofile [--top N] [--match TEXT]\n');
  process.exit(2);
}

const profile = JSON.parse(readFileSync(files[0], 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the samples and their time deltas (microseconds).
const self = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
}

const short = (url) => url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/(dist\/)/, '$1').replace(/^.*\/(bench\/)/, '$1');
const key = (n) => {
  const f = n.callFrame;
  const name = f.functionName || '(anonymous)';
  return f.url ? `${name}  ${short(f.url)}:${f.lineNumber + 1}` : name;
};

const selfByFn = new Map();
for (const [id, t] of self) {
  const k = key(nodes.get(id));
  selfByFn.set(k, (selfByFn.get(k) ?? 0) + t);
}

// Inclusive time per function: every sample counts once for each distinct function on its stack.
const inclByFn = new Map();
for (const [id, t] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const n = nodes.get(cur);
    if (!n.callFrame.url.includes(match)) continue;
    const k = key(n);
    if (seen.has(k)) continue;
    seen.add(k);
    inclByFn.set(k, (inclByFn.get(k) ?? 0) + t);
  }
}

const idle = [...selfByFn].filter(([k]) => k === '(idle)').reduce((a, [, t]) => a + t, 0);
const busy = total - idle;
const pct = (t, of) => ((100 * t) / of).toFixed(1).padStart(5) + '%';
const print = (title, map) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${pct(t, busy)}  ${(t / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
  }
};

process.stdout.write(`${files[0]}\nsampled ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (idle ${pct(idle, total).trim()}); percentages are of busy time\n`);
print('Top self time', new Map([...selfByFn].filter(([k]) => k !== '(idle)')));
print(`Top inclusive time, frames in files matching ${JSON.stringify(match)}`, inclByFn);
