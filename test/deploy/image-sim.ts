// A stand-in for `docker build` + `docker run` where there is no Docker engine:
// the final stage of a Dockerfile is executed instruction by instruction into a
// directory that plays the image's root filesystem (every absolute image path
// is mapped under it), and its CMD is run with its ENV, WORKDIR and PATH.
//
// What is real: WORKDIR, COPY from the build context (honouring nothing but the
// paths given), ENV (with $VAR expansion), RUN commands (run by bash with the
// image paths mapped), the CMD's executable looked up on the image's PATH (so
// `pounce` must really be there, as a symlink or a bin), node started through
// the `#!/usr/bin/env node` line. What is stood in, and how:
//   - FROM node:<v>-slim: an empty root; node itself is the host's node,
//     appended to PATH after the image's own entries.
//   - FROM <pounce image>: this repository's Dockerfile executed first (the
//     release workflow builds the published image from it).
//   - `npm ci` in a RUN: the dependencies the test installed already (the
//     repository's node_modules for pounce's image; the user app's node_modules,
//     installed with `npm i pounce`, for the app's); `npm cache clean` only
//     empties the image's cache and is skipped (it would empty this machine's).
//   - COPY --from=<build stage>: the build's output (dist/ from `npm run build`,
//     node_modules from the app's install).
//   - USER: the processes run as the test's user; the USER lines are checked by
//     dockerfile.test.ts instead.
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { execForm, readDockerfile, type Instruction } from './dockerfile-lib.js';
import { repoRoot } from './shipped-fields.js';

export const PUBLISHED_IMAGE_REPOSITORY = 'ghcr.io/pounce-http/pounce';
const NODE_IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SimImage {
  /** The directory playing the image's `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  cmd: string[];
  healthcheck: string[] | undefined;
  /** Every instruction handled, for the test's report. */
  log: string[];
}

/** An image path (absolute, or relative to the WORKDIR) on the host. */
export function hostPath(img: SimImage, p: string): string {
  return path.join(img.root, path.posix.isAbsolute(p) ? p : path.posix.join(img.workdir, p));
}

/** The image's env for a process: PATH entries mapped under its root, then the host's node. */
export function processEnv(img: SimImage, overrides: Record<string, string> = {}): Record<string, string> {
  const env = { ...img.env, ...overrides };
  // A value naming a file of the image (POUNCE_APP=/app/examples/hello.js) is that file under the root.
  for (const [k, v] of Object.entries(env)) {
    if (k !== 'PATH' && path.posix.isAbsolute(v) && existsSync(path.join(img.root, v)) && v !== '/') env[k] = path.join(img.root, v);
  }
  const entries = (env['PATH'] ?? NODE_IMAGE_PATH).split(':').filter(Boolean);
  env['PATH'] = [...entries.map((e) => path.join(img.root, e)), path.dirname(process.execPath), '/usr/bin', '/bin'].join(':');
  return env;
}

/**
 * Executes `dockerfile` (its final stage) with build context `context` into
 * `root`. `appNodeModules` is the app's installed node_modules, which stands in
 * for its `npm ci` and for COPY --from=deps.
 */
export function buildImage(opts: { dockerfile: string; context: string; root: string; appNodeModules?: string }): SimImage {
  const text = readFileSync(opts.dockerfile, 'utf8');
  const { instructions, final } = readDockerfile(text);
  const args = new Map(instructions.filter((i) => i.keyword === 'ARG').map((i) => [i.args.split('=')[0] as string, i.args.split('=')[1] ?? '']));
  const expandArgs = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args.get((a ?? b) as string) ?? '');
  const fromLine = instructions.filter((i) => i.keyword === 'FROM').at(-1) as Instruction;
  const from = expandArgs(fromLine.args.replace(/\s+AS\s+\S+$/i, ''));
  let img: SimImage;
  if (from.startsWith(`${PUBLISHED_IMAGE_REPOSITORY}:`)) {
    const version = from.split(':')[1];
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(version, `${opts.dockerfile} builds FROM the published image of this version`).to.equal(pkg.version);
    img = buildImage({ dockerfile: path.join(repoRoot, 'Dockerfile'), context: repoRoot, root: opts.root });
    img.log.push(`FROM ${from}: this repository's Dockerfile, as the release workflow builds it`);
  } else {
    expect(from, `${opts.dockerfile}: FROM`).to.match(/^node:\d+[\w.-]*-slim$/);
    mkdirSync(path.join(opts.root, 'usr/local/bin'), { recursive: true });
    img = { root: opts.root, workdir: '/', env: { PATH: NODE_IMAGE_PATH }, cmd: [], healthcheck: undefined, log: [`FROM ${from}: an empty root, the host's node`] };
  }
  const standIns: Record<string, string> = {
    'build:/app/dist': path.join(repoRoot, 'dist'),
    ...(opts.appNodeModules ? { 'deps:/app/node_modules': opts.appNodeModules } : {}),
  };
  const mapAbs = (cmd: string): string => cmd.replace(/(^|[\s=])(\/[\w.@/-]*)/g, (_m, pre: string, p: string) => pre + path.join(img.root, p));

  for (const ins of final.instructions) {
    const a = ins.args;
    switch (ins.keyword) {
      case 'WORKDIR':
        img.workdir = path.posix.resolve(img.workdir, a);
        mkdirSync(hostPath(img, img.workdir), { recursive: true });
        break;
      case 'ENV': {
        for (const m of a.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
          const raw = (m[2] as string).replace(/^"|"$/g, '');
          img.env[m[1] as string] = raw.replace(/\$\{(\w+)\}|\$(\w+)/g, (_x, p: string | undefined, q: string | undefined) => img.env[(p ?? q) as string] ?? '');
        }
        break;
      }
      case 'COPY': {
        const parts = a.split(/\s+/);
        const fromStage = /^--from=(\S+)$/.exec(parts.find((p) => p.startsWith('--from=')) ?? '')?.[1];
        const plain = parts.filter((p) => !p.startsWith('--'));
        const dest = plain.at(-1) as string;
        for (const src of plain.slice(0, -1)) {
          let hostSrc: string;
          if (fromStage) {
            const standIn = standIns[`${fromStage}:${src}`];
            if (!standIn) throw new Error(`no stand-in for COPY --from=${fromStage} ${src}`);
            hostSrc = standIn;
          } else hostSrc = path.join(opts.context, src);
          expect(existsSync(hostSrc), `COPY source ${src} (${opts.dockerfile}:${ins.line})`).to.equal(true);
          const target = dest.endsWith('/') || plain.length > 2 ? path.join(hostPath(img, dest), path.basename(src)) : hostPath(img, dest);
          const isNodeModules = path.basename(hostSrc) === 'node_modules';
          if (src === '.') {
            const ignored = dockerignore(opts.context);
            cpSync(hostSrc, hostPath(img, dest), { recursive: true, filter: (s) => s === hostSrc || !ignored(path.relative(hostSrc, s)) });
          } else if (isNodeModules) {
            mkdirSync(path.dirname(target), { recursive: true });
            symlinkSync(hostSrc, target);
          } else {
            mkdirSync(path.dirname(target), { recursive: true });
            cpSync(hostSrc, target, { recursive: true });
          }
        }
        break;
      }
      case 'RUN': {
        for (const step of a.split(/\s*&&\s*/)) {
          if (/^npm ci\b/.test(step)) {
            const nm = hostPath(img, 'node_modules');
            if (existsSync(path.join(hostPath(img, '.'), 'package.json')) && JSON.parse(readFileSync(path.join(hostPath(img, '.'), 'package.json'), 'utf8')).name === 'pounce') {
              symlinkSync(path.join(repoRoot, 'node_modules'), nm);
            } else {
              if (!opts.appNodeModules) throw new Error(`npm ci for an app without its installed node_modules (${opts.dockerfile}:${ins.line})`);
              cpSync(opts.appNodeModules, nm, { recursive: true, verbatimSymlinks: true });
            }
            img.log.push(`RUN ${step}: stood in by the dependencies installed already`);
          } else if (/^npm cache clean\b/.test(step)) {
            img.log.push(`RUN ${step}: skipped (the image's cache only)`);
          } else if (/^npm\b/.test(step)) {
            throw new Error(`unsupported npm step ${step}`);
          } else {
            execFileSync('bash', ['-euo', 'pipefail', '-c', mapAbs(step)], { cwd: hostPath(img, '.'), stdio: 'pipe' });
            img.log.push(`RUN ${step}: run`);
          }
        }
        break;
      }
      case 'CMD':
        img.cmd = execForm(a);
        break;
      case 'HEALTHCHECK': {
        const m = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(a);
        img.healthcheck = m ? execForm(m[1] as string) : undefined;
        break;
      }
      case 'USER':
      case 'EXPOSE':
      case 'LABEL':
      case 'STOPSIGNAL':
      case 'ARG':
        break;
      default:
        throw new Error(`unsupported instruction ${ins.keyword} in ${opts.dockerfile}:${ins.line}`);
    }
    img.log.push(`${ins.keyword} ${a}`);
  }
  return img;
}

/** The context's .dockerignore as a predicate on context-relative paths (patterns: *, **, leading **\/). */
export function dockerignore(context: string): (rel: string) => boolean {
  const file = path.join(context, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  const res = patterns.map((p) => {
    const body = p
      .replace(/^\/+/, '')
      .split('**/')
      .map((seg) => seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
      .join('(?:.*/)?');
    return new RegExp(`^${body}(?:/.*)?$`);
  });
  return (rel) => res.some((r) => r.test(rel.split(path.sep).join('/')));
}
