// The Dockerfile: linted by the real dockerlinter (with ShellCheck on every RUN),
// its structure checked, and its HEALTHCHECK command run for real against a
// loopback server (no Docker engine is needed).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from './shipped-fields.js';
import { DOCKERFILE, execForm, only, parseDockerfile, runDockerlinter, stages, type Instruction, type Stage } from './dockerfile-lib.js';

const text = readFileSync(DOCKERFILE, 'utf8');
const instructions = parseDockerfile(text);
const allStages = stages(instructions);
const runtime = allStages.at(-1) as Stage;
const argDefaults = new Map(
  instructions.filter((i) => i.keyword === 'ARG').map((i) => {
    const [k, v] = i.args.split('=');
    return [k as string, v ?? ''] as const;
  }),
);
const expandArgs = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, b: string) => argDefaults.get(a ?? b) ?? '');

function healthcheckCommand(): string[] {
  const hc = only(runtime, 'HEALTHCHECK');
  expect(hc, 'one HEALTHCHECK in the runtime stage').to.have.length(1);
  const m = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec((hc[0] as Instruction).args);
  expect(m, 'HEALTHCHECK CMD in exec form').to.not.equal(null);
  return execForm((m as RegExpExecArray)[1] as string);
}

/** Runs the image's HEALTHCHECK command with the runtime stage's env. */
async function runHealthcheck(env: Record<string, string>): Promise<number | null> {
  const [cmd, ...args] = healthcheckCommand();
  expect(cmd).to.equal('node');
  const child = spawn(process.execPath, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

function runtimeEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of only(runtime, 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) env[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '');
  }
  return env;
}

describe('deploy: Dockerfile', function () {
  this.timeout(60_000);

  describe('dockerlinter', () => {
    for (const rel of ['Dockerfile', 'examples/user-app/Dockerfile', 'examples/user-app/Dockerfile.from-pounce']) {
      it(`${rel} lints clean: exit 0, no finding at any level (info, warning, error; ShellCheck included)`, () => {
        const r = runDockerlinter(path.join(repoRoot, rel));
        expect(r.stderr, 'dockerlinter stderr').to.equal('');
        expect(r.stdout.trim(), 'dockerlinter findings').to.equal('');
        expect(r.status).to.equal(0);
      });
    }

    it('is the real linter with ShellCheck wired in: it flags a bad Dockerfile', () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'bad-dockerfile-'));
      try {
        const bad = path.join(dir, 'Dockerfile');
        writeFileSync(bad, 'FROM node:latest\nRUN cd /app && npm install $PKG | tee log\nUSER root\nCMD npm start\n');
        const r = runDockerlinter(bad);
        expect(r.status).to.equal(1);
        const codes = (JSON.parse(r.stdout) as { code: string }[]).map((f) => f.code);
        expect(codes, r.stdout).to.include.members(['SC2086', 'ER0001', 'EJ0002', 'EU0001', 'EF0003']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('structure', () => {
    it('is multi-stage: a build stage, then a runtime stage on a slim current-LTS node image', () => {
      expect(allStages.length).to.be.at.least(2);
      const build = allStages.find((s) => s.name === 'build');
      expect(build, 'a stage named build').to.not.equal(undefined);
      for (const s of allStages) expect(expandArgs(s.from)).to.match(/^node:(2[2-9]|[3-9]\d)[\w.-]*-slim$/);
      const runs = only(build as Stage, 'RUN').map((r) => r.args).join('\n');
      expect(runs).to.match(/\bnpm ci\b/);
      expect(runs).to.match(/\bnpm run build\b/);
    });

    it('the runtime stage installs production dependencies only and copies the build output', () => {
      const runs = only(runtime, 'RUN').map((r) => r.args);
      const npmCi = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
      expect(npmCi).to.have.length(1);
      expect(npmCi[0]).to.match(/\bnpm ci\b[^&]*--omit=dev/);
      const copies = only(runtime, 'COPY').map((c) => c.args);
      expect(copies.some((c) => /--from=build\s+\S*dist\b/.test(c)), 'dist/ from the build stage').to.equal(true);
      expect(copies.some((c) => /^examples\/hello\.js\b/.test(c)), 'the bundled example app').to.equal(true);
      expect(runs.join('\n')).to.not.match(/\bnpm run build\b|\btsc\b/);
    });

    it('every file it COPYs from the context exists and is not excluded by .dockerignore', () => {
      const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      for (const s of allStages) {
        for (const c of only(s, 'COPY')) {
          if (/--from=/.test(c.args)) continue;
          const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
          for (const src of parts.slice(0, -1)) {
            expect(existsSync(path.join(repoRoot, src)), `COPY source ${src} (line ${c.line})`).to.equal(true);
            expect(ignored, `${src} must not be in .dockerignore`).to.not.include(src);
          }
        }
      }
      for (const kept of ['node_modules', '.git', '.tools', 'dist']) {
        expect(ignored.some((l) => l === kept || l === `**/${kept}`), `.dockerignore excludes ${kept}`).to.equal(true);
      }
    });

    it('runs as a non-root user', () => {
      const users = instructions.filter((i) => i.keyword === 'USER');
      expect(users.length).to.be.greaterThan(0);
      expect(only(runtime, 'USER').length, 'USER set in the runtime stage').to.be.greaterThan(0);
      const last = (only(runtime, 'USER').at(-1) as Instruction).args.split(':')[0];
      expect(last).to.not.be.oneOf(['root', '0']);
      expect(last).to.equal('node');
    });

    it('CMD is exec form `pounce` (node runs it through its #! line as PID 1; no npm, no shell) and the app comes from POUNCE_APP', () => {
      const cmds = only(runtime, 'CMD');
      expect(cmds).to.have.length(1);
      const cmd = execForm((cmds[0] as Instruction).args);
      expect(cmd, 'no app argument: an image built FROM this one sets POUNCE_APP').to.deep.equal(['pounce']);
      expect(runtimeEnv()['POUNCE_APP']).to.equal('/app/examples/hello.js');
      expect(readFileSync(path.join(repoRoot, 'src/cli.ts'), 'utf8').split('\n')[0]).to.equal('#!/usr/bin/env node');
      const runs = only(runtime, 'RUN').map((r) => r.args).join('\n');
      expect(runs, 'pounce on PATH').to.match(/ln -s \/app\/dist\/cli\.js \/usr\/local\/bin\/pounce/);
      expect(runs, 'the bin is executable').to.match(/chmod 0755 dist\/cli\.js/);
      expect(runs, "an app anywhere imports this pounce").to.match(/ln -s \/app \/node_modules\/pounce/);
      expect(only(runtime, 'ENTRYPOINT'), 'no ENTRYPOINT wrapper').to.have.length(0);
      const stop = only(runtime, 'STOPSIGNAL');
      if (stop.length) expect((stop[0] as Instruction).args).to.equal('SIGTERM');
    });

    it('sets the production env defaults and exposes 8000', () => {
      expect(runtimeEnv()).to.include({
        POUNCE_HOST: '0.0.0.0',
        POUNCE_PORT: '8000',
        POUNCE_LOG_FORMAT: 'json',
        POUNCE_LIFECYCLE_LOGGING: 'true',
        POUNCE_HEALTH_CHECK_PATH: '/health',
      });
      expect(only(runtime, 'EXPOSE').map((e) => e.args)).to.deep.equal(['8000']);
    });

    it('its drain delay and shutdown timeout fit `docker stop`\'s default 10 s, with 2 s left to flush logs and spans', () => {
      const env = runtimeEnv();
      const drain = Number(env['POUNCE_DRAIN_DELAY']);
      const shutdown = Number(env['POUNCE_SHUTDOWN_TIMEOUT']);
      expect(Number.isFinite(drain) && Number.isFinite(shutdown), 'both set in the image').to.equal(true);
      expect(drain + shutdown + 2).to.be.at.most(10);
    });

    it('HEALTHCHECK probes the health path with node itself (no curl in a slim image)', () => {
      const cmd = healthcheckCommand();
      expect(cmd.slice(0, 2)).to.deep.equal(['node', '-e']);
      const script = cmd[2] as string;
      expect(script).to.match(/POUNCE_HEALTH_CHECK_PATH|\/health/);
      expect(script).to.include('fetch(');
      expect(cmd.join(' ')).to.not.match(/\b(curl|wget)\b/);
    });
  });

  describe('HEALTHCHECK command, run for real', () => {
    let server: Server;
    let port = 0;
    let healthStatus = 200;
    const seen: string[] = [];

    before(async () => {
      server = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        if (req.url === '/health' || req.url === '/healthz') {
          res.writeHead(healthStatus, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: healthStatus === 200 ? 'ok' : 'draining' }));
        } else {
          res.writeHead(404).end();
        }
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });

    after(() => {
      server.close();
    });

    it('exits 0 when the health endpoint answers 200, on the image env (POUNCE_PORT, POUNCE_HEALTH_CHECK_PATH)', async () => {
      healthStatus = 200;
      seen.length = 0;
      expect(await runHealthcheck({ ...runtimeEnv(), POUNCE_PORT: String(port) })).to.equal(0);
      expect(seen).to.deep.equal(['GET /health']);
    });

    it('follows an overridden POUNCE_HEALTH_CHECK_PATH', async () => {
      healthStatus = 200;
      seen.length = 0;
      expect(await runHealthcheck({ ...runtimeEnv(), POUNCE_PORT: String(port), POUNCE_HEALTH_CHECK_PATH: '/healthz' })).to.equal(0);
      expect(seen).to.deep.equal(['GET /healthz']);
    });

    it('exits 1 while pounce drains (503) and when nothing listens', async () => {
      healthStatus = 503;
      expect(await runHealthcheck({ ...runtimeEnv(), POUNCE_PORT: String(port) })).to.equal(1);
      const closed = createServer();
      closed.listen(0, '127.0.0.1');
      await once(closed, 'listening');
      const deadPort = (closed.address() as AddressInfo).port;
      closed.close();
      await once(closed, 'close');
      expect(await runHealthcheck({ ...runtimeEnv(), POUNCE_PORT: String(deadPort) })).to.equal(1);
    });
  });
});
