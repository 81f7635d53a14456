// The README's "Deploy" section, run command by command in a temp folder: from
// `npm i pounce` to `helm install` with the user's own app (examples/user-app's
// server.js, copied out of the installed package, so the app lives in its own
// folder, not in examples/). A command the test does not know fails it, so the
// section cannot grow an untested command.
//
// Stand-ins, where this machine cannot do the real thing:
//   - `npm i pounce`: the package is not published from here; `npm pack` of
//     this checkout is installed instead (offline, from npm's cache).
//   - `git clone <this repository>`: this checkout.
//   - `docker build`: the Dockerfile is linted with dockerlinter and executed
//     by image-sim.ts into a directory playing the image's root.
//   - `docker run`: the image's CMD run with its ENV, WORKDIR and PATH (port
//     8000 becomes a free port on 127.0.0.1), then its HEALTHCHECK.
//   - `docker push`: checks the image was built above.
//   - `helm install`: `helm template` with the same values (the OCI chart
//     reference is this checkout's chart, whose version must match), every
//     object validated; then the Deployment's container command and env run
//     against the image (the downward API filled in, $(VAR) expanded as the
//     kubelet does, host/port moved to 127.0.0.1 and a free port), its
//     startup, readiness and liveness probes polled as the kubelet would, and
//     the drain checked: readiness fails while the app keeps serving.
//   - `helm test`: the rendered test pod targets the release's Service.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import type { IContainer, IProbe } from 'kubernetes-models/v1';
import { runDockerlinter } from './dockerfile-lib.js';
import { CHART, container, deployment, find, helm, parseRendered, validate, type K8sObject } from './helm-lib.js';
import { buildImage, hostPath, processEnv, PUBLISHED_IMAGE_REPOSITORY, type SimImage } from './image-sim.js';
import { repoRoot } from './shipped-fields.js';
import { freePort } from '../helpers/pounce.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The shell commands of the README's Deploy section, in order (`a && b` split, comments dropped). */
function deployCommands(): string[] {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Deploy\n');
  expect(start, 'README has a Deploy section').to.be.greaterThan(0);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1) === -1 ? undefined : readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return blocks
    .flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '')
    .flatMap((l) => l.split(/\s+&&\s+/));
}

interface Running {
  proc: ChildProcess;
  out: string;
  exited: Promise<number | null>;
}

function run(cmd: string[], opts: { cwd: string; env: Record<string, string>; detached?: boolean }): Running {
  const proc = spawn(cmd[0] as string, cmd.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  const r: Running = { proc, out: '', exited: once(proc, 'exit').then(([code]) => code as number | null) };
  proc.stdout?.setEncoding('utf8').on('data', (c: string) => (r.out += c));
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => (r.out += c));
  return r;
}

async function get(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
  return { status: res.status, body: await res.text() };
}

async function waitHealthy(url: string, r: Running, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (r.proc.exitCode !== null) throw new Error(`exited ${r.proc.exitCode}: ${r.out}`);
    try {
      if ((await get(url, 1000)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} never answered 200: ${r.out}`);
}

async function stop(r: Running, signal: NodeJS.Signals = 'SIGTERM', group = false): Promise<number | null> {
  if (r.proc.exitCode === null && r.proc.signalCode === null) {
    if (group && r.proc.pid) process.kill(-r.proc.pid, signal);
    else r.proc.kill(signal);
  }
  const timer = setTimeout(() => (group && r.proc.pid ? process.kill(-r.proc.pid, 'SIGKILL') : r.proc.kill('SIGKILL')), 10_000);
  const code = await r.exited;
  clearTimeout(timer);
  return code;
}

/** The user's app answers `/` with its own JSON, carrying the request's connection id from `currentRequest()`. */
async function expectUserApp(base: string): Promise<void> {
  const home = await get(`${base}/`);
  expect(home.status).to.equal(200);
  const body = JSON.parse(home.body) as { hello: string; connection_id: number | null };
  expect(body.hello).to.equal('world');
  expect(body.connection_id, "the app's `import 'pounce'` is the pounce that serves it (currentRequest() works)").to.be.a('number');
}

/** JSON log lines of a run. */
const jsonLines = (out: string): Record<string, unknown>[] =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The env a kubelet gives the container: image ENV, then the pod's env with the downward API filled and $(VAR) expanded. */
function kubeletEnv(img: SimImage, c: IContainer, fields: Record<string, string>): Record<string, string> {
  const podEnv: Record<string, string> = {};
  for (const e of c.env ?? []) {
    let v: string;
    if (e.valueFrom?.fieldRef) {
      const f = fields[e.valueFrom.fieldRef.fieldPath];
      if (f === undefined) throw new Error(`no downward API value for ${e.valueFrom.fieldRef.fieldPath}`);
      v = f;
    } else if (e.valueFrom) throw new Error(`unsupported valueFrom in ${e.name}`);
    else v = (e.value ?? '').replace(/\$\((\w+)\)/g, (all, name: string) => podEnv[name] ?? all);
    podEnv[e.name] = v;
  }
  expect(c.envFrom ?? [], 'no envFrom in this release').to.deep.equal([]);
  return { ...img.env, ...podEnv };
}

/** Polls a probe like the kubelet: every periodSeconds, success on 2xx/3xx within timeoutSeconds. */
async function probe(p: IProbe | undefined, port: number): Promise<number> {
  expect(p?.httpGet?.port, 'probes use the named port').to.equal('http');
  const res = await get(`http://127.0.0.1:${port}${p?.httpGet?.path ?? ''}`, (p?.timeoutSeconds ?? 1) * 1000);
  return res.status;
}

describe('deploy: the README walks a user from `npm i pounce` to `helm install` (every command run)', function () {
  this.timeout(120_000);
  const commands = deployCommands();
  let work = '';
  let cwd = '';
  let tarball = '';
  const clones = new Map<string, string>();
  const images = new Map<string, SimImage & { dockerfile: string }>();
  const pushed = new Set<string>();
  const releases = new Map<string, K8sObject[]>();
  const handled: string[] = [];
  const chartVersion = (YAML.parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { version: string }).version;

  before(() => {
    expect(existsSync(path.join(repoRoot, 'dist/cli.js')), 'dist/ is built (npm run build)').to.equal(true);
    work = mkdtempSync(path.join(tmpdir(), 'pounce-readme-'));
    cwd = work;
    execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: repoRoot, stdio: 'pipe' });
    tarball = path.join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) as string);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the section has the whole path: npm i pounce, both images, docker run, helm install with app.module', () => {
    expect(commands).to.include('npm i pounce');
    expect(commands.filter((c) => c.startsWith('docker build')).length).to.be.at.least(3);
    expect(commands.some((c) => c.startsWith('helm install') && c.includes('app.module='))).to.equal(true);
  });

  /** Runs a Dockerfile's image (the stand-in for docker run -p 8000:8000): serves, answers /health, HEALTHCHECK passes, SIGTERM exits 0. */
  async function dockerRun(tag: string): Promise<void> {
    const img = images.get(tag);
    expect(img, `${tag} was built above`).to.not.equal(undefined);
    const image = img as SimImage & { dockerfile: string };
    const port = await freePort();
    const env = processEnv(image, { POUNCE_HOST: '127.0.0.1', POUNCE_PORT: String(port) });
    const r = run(image.cmd, { cwd: hostPath(image, '.'), env });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitHealthy(`${base}${image.env['POUNCE_HEALTH_CHECK_PATH']}`, r);
      // node itself is the process (no shell, no npm in between): it gets the SIGTERM
      expect(readFileSync(`/proc/${r.proc.pid}/comm`, 'utf8').trim()).to.equal('node');
      if (image.env['POUNCE_APP'] === '/app/examples/hello.js') expect((await get(`${base}/`)).status).to.equal(200);
      else await expectUserApp(base);
      expect(image.healthcheck?.[0]).to.equal('node');
      const hc = spawn(process.execPath, (image.healthcheck as string[]).slice(1), { env, stdio: 'ignore' });
      expect((await once(hc, 'exit'))[0], 'HEALTHCHECK').to.equal(0);
      const t0 = Date.now();
      expect(await stop(r)).to.equal(0);
      expect(Date.now() - t0, 'exits well within docker stop\'s 10 s').to.be.below(10_000);
      const lines = jsonLines(r.out);
      expect(lines.length, 'JSON logs').to.be.greaterThan(0);
      expect(r.out.split('\n').filter((l) => l.trim() && !l.startsWith('{')), 'only JSON lines').to.deep.equal([]);
      expect(lines.some((l) => l['event'] === 'ServerStopped')).to.equal(true);
    } finally {
      await stop(r, 'SIGKILL');
    }
  }

  /** The rendered Deployment's container, run against the image it names, probed as the kubelet would. */
  async function runRelease(name: string, objs: K8sObject[]): Promise<void> {
    const c = container(objs);
    const ref = c.image as string;
    const img = images.get(ref);
    expect(img, `the release's image ${ref} was built above`).to.not.equal(undefined);
    const image = img as SimImage;
    const port = await freePort();
    const env = kubeletEnv(image, c, { 'metadata.name': `${name}-5d8c7b9f4-x2x9z`, 'metadata.namespace': 'web', 'spec.nodeName': 'node-1', 'metadata.uid': '9b2e6a3c-0000-4000-8000-000000000001' });
    expect(env['POUNCE_HOST']).to.equal('0.0.0.0');
    expect(env['POUNCE_PORT']).to.equal(String(c.ports?.[0]?.containerPort));
    // Moved to loopback and a free port: this machine is shared.
    const procEnv = processEnv(image, { ...env, POUNCE_HOST: '127.0.0.1', POUNCE_PORT: String(port) });
    // command replaces the ENTRYPOINT (none), args the CMD; neither set: the image's CMD.
    const argv = c.command ? [...c.command, ...(c.args ?? [])] : c.args ? [...c.args] : image.cmd;
    const r = run(argv, { cwd: hostPath(image, '.'), env: procEnv });
    const base = `http://127.0.0.1:${port}`;
    try {
      // startupProbe: every periodSeconds, up to failureThreshold times
      const sp = c.startupProbe as IProbe;
      let started = false;
      for (let i = 0; i < (sp.failureThreshold ?? 3) && !started; i++) {
        started = await probe(sp, port).then((s) => s === 200, () => false);
        if (!started) await sleep((sp.periodSeconds ?? 10) * 1000);
      }
      expect(started, `startup probe never passed: ${r.out}`).to.equal(true);
      expect(await probe(c.readinessProbe, port), 'readiness').to.equal(200);
      expect(await probe(c.livenessProbe, port), 'liveness').to.equal(200);
      const userApp = !(image.env['POUNCE_APP'] === '/app/examples/hello.js' && !c.command);
      if (userApp) await expectUserApp(base);
      else expect((await get(`${base}/`)).status).to.equal(200);
      // The pod's identity reached pounce: OTEL_RESOURCE_ATTRIBUTES expanded by the kubelet
      expect(procEnv['OTEL_RESOURCE_ATTRIBUTES']).to.include(`k8s.pod.name=${name}-5d8c7b9f4-x2x9z`);
      // SIGTERM: readiness fails at once while the app keeps serving for drainDelay
      r.proc.kill('SIGTERM');
      await sleep(300);
      expect(await probe(c.readinessProbe, port), 'readiness while draining').to.equal(503);
      expect((await get(`${base}/`)).status, 'still serving while draining').to.equal(200);
      const lines = jsonLines(r.out);
      expect(lines.find((l) => l['event'] === 'ShutdownStarted'), 'drain started').to.not.equal(undefined);
      expect(lines.filter((l) => l['path'] === (c.readinessProbe?.httpGet?.path as string)), 'probes are never logged').to.deep.equal([]);
      if (userApp) expect(lines.some((l) => l['logger'] === 'pounce.app' && typeof l['connection_id'] === 'number'), "the app's own line joins the trail").to.equal(true);
      // a second signal ends it at once (the kubelet would wait drainDelay + shutdownTimeout)
      const t0 = Date.now();
      await stop(r, 'SIGTERM');
      expect(Date.now() - t0).to.be.below(5000);
    } finally {
      await stop(r, 'SIGKILL');
    }
  }

  for (const [i, command] of commands.entries()) {
    it(`$ ${command}`, async () => {
      const argv = command.split(/\s+/);
      let m: RegExpExecArray | null;
      if ((m = /^mkdir (\S+)$/.exec(command))) {
        mkdirSync(path.join(cwd, m[1] as string));
      } else if ((m = /^cd (\S+)$/.exec(command))) {
        const target = clones.get(m[1] as string) ?? path.join(cwd, m[1] as string);
        expect(existsSync(target)).to.equal(true);
        cwd = target;
      } else if ((m = /^git clone (\S+)$/.exec(command))) {
        expect(m[1], 'the pounce repository').to.match(/\/pounce$/);
        clones.set('pounce', repoRoot);
      } else if (command === 'npm init -y' || /^npm pkg set type=module$/.test(command)) {
        execFileSync('npm', argv.slice(1), { cwd, stdio: 'pipe' });
        expect(existsSync(path.join(cwd, 'package.json'))).to.equal(true);
      } else if (command === 'npm i pounce') {
        execFileSync('npm', ['i', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd, stdio: 'pipe' });
        expect(existsSync(path.join(cwd, 'node_modules/.bin/pounce')), 'the pounce bin').to.equal(true);
        expect(existsSync(path.join(cwd, 'package-lock.json'))).to.equal(true);
        expect(Object.keys((JSON.parse(readFileSync(path.join(cwd, 'package.json'), 'utf8')) as { dependencies: object }).dependencies)).to.deep.equal(['pounce']);
      } else if (argv[0] === 'cp') {
        execFileSync('cp', argv.slice(1), { cwd, stdio: 'pipe' });
        const dest = argv.at(-1) as string;
        for (const src of argv.slice(1, -1)) expect(existsSync(path.join(cwd, dest === '.' ? path.basename(src) : dest)), `${src} copied`).to.equal(true);
      } else if ((m = /^npx pounce (.+)$/.exec(command))) {
        expect(cwd, 'the app runs from its own folder').to.not.include(path.join(repoRoot, 'examples'));
        const port = await freePort();
        const r = run(['npx', '--no-install', 'pounce', ...(m[1] as string).split(/\s+/)], { cwd, env: { ...process.env, POUNCE_PORT: String(port) } as Record<string, string>, detached: true });
        try {
          await waitHealthy(`http://127.0.0.1:${port}/health`, r);
          await expectUserApp(`http://127.0.0.1:${port}`);
          await sleep(100);
          expect(r.out, 'lifecycle events in text format').to.match(/pounce\.app\s+hello from my app/);
        } finally {
          await stop(r, 'SIGTERM', true);
        }
      } else if ((m = /^docker build (?:-f (\S+) )?-t (\S+) \.$/.exec(command))) {
        const dockerfile = path.join(cwd, m[1] ?? 'Dockerfile');
        const lint = runDockerlinter(dockerfile);
        expect(lint.stdout.trim() + lint.stderr, `dockerlinter ${dockerfile}`).to.equal('');
        expect(lint.status).to.equal(0);
        const root = mkdtempSync(path.join(work, 'image-'));
        const nm = path.join(cwd, 'node_modules');
        const img = buildImage({ dockerfile, context: cwd, root, appNodeModules: existsSync(nm) ? nm : undefined });
        images.set(m[2] as string, { ...img, dockerfile });
      } else if ((m = /^docker run --rm -p 8000:8000 (\S+)$/.exec(command))) {
        await dockerRun(m[1] as string);
      } else if ((m = /^docker push (\S+)$/.exec(command))) {
        expect(images.has(m[1] as string), `${m[1]} was built above`).to.equal(true);
        pushed.add(m[1] as string);
      } else if ((m = /^helm install (\S+) (\S+)(?: --version (\S+))?((?: --set \S+)*)$/.exec(command))) {
        const [, release, chartRef, version, sets] = m as unknown as [string, string, string, string | undefined, string];
        if (chartRef.startsWith('oci://')) {
          expect(chartRef, 'where the release workflow publishes the chart').to.equal('oci://ghcr.io/pounce-http/charts/pounce');
          expect(version, 'the chart version').to.equal(chartVersion);
        } else {
          expect(path.resolve(cwd, chartRef)).to.equal(CHART);
        }
        const r = helm(['template', release, CHART, '--namespace', 'web', ...sets.trim().split(/\s+/).filter(Boolean)]);
        expect(r.status, r.stderr).to.equal(0);
        const objs = parseRendered(r.stdout);
        objs.forEach(validate);
        releases.set(release, objs);
        const ref = container(objs).image as string;
        expect(images.has(ref), `the release's image ${ref} is one the README builds`).to.equal(true);
        if (ref.startsWith(PUBLISHED_IMAGE_REPOSITORY)) expect(chartRef, 'the default image goes with the local chart').to.equal('charts/pounce');
        else expect(pushed.has(ref), `${ref} was pushed before the install`).to.equal(true);
        await runRelease(release, objs);
      } else if ((m = /^helm test (\S+)$/.exec(command))) {
        const objs = releases.get(m[1] as string);
        expect(objs, `${m[1]} was installed above`).to.not.equal(undefined);
        const testPod = find(objs as K8sObject[], 'Pod')[0] as K8sObject;
        expect(testPod.metadata.annotations?.['helm.sh/hook']).to.equal('test');
        const svc = find(objs as K8sObject[], 'Service')[0] as K8sObject;
        expect(JSON.stringify(testPod.spec)).to.include(`http://${svc.metadata.name}.web.svc:`);
        expect(deployment(objs as K8sObject[]).metadata?.name).to.equal(svc.metadata.name);
      } else {
        throw new Error(`the README's Deploy section runs a command this test does not know: ${command}`);
      }
      handled.push(command);
      expect(handled.length).to.equal(i + 1);
    });
  }

  it('ran every command, built and ran each image, and installed the user\'s app from its own image', () => {
    expect(handled).to.deep.equal(commands);
    expect([...images.keys()]).to.include.members(['registry.example.com/my-app:1.0.0', 'registry.example.com/my-app:1.0.0-b', `${PUBLISHED_IMAGE_REPOSITORY}:${chartVersion}`]);
    expect(container(releases.get('my-app') as K8sObject[]).args).to.deep.equal(['server.js']);
  });

  it('why Dockerfile.from-pounce removes the app\'s own pounce: with a second copy, currentRequest() sees no request', async () => {
    const app = path.join(work, 'my-app');
    expect(existsSync(path.join(app, 'node_modules/pounce')), 'npm i pounce put a copy in the app').to.equal(true);
    const base = images.get(`${PUBLISHED_IMAGE_REPOSITORY}:${chartVersion}`) as SimImage;
    const port = await freePort();
    const r = run(base.cmd, { cwd: app, env: processEnv(base, { POUNCE_APP: path.join(app, 'server.js'), POUNCE_HOST: '127.0.0.1', POUNCE_PORT: String(port) }) });
    try {
      await waitHealthy(`http://127.0.0.1:${port}/health`, r);
      const body = JSON.parse((await get(`http://127.0.0.1:${port}/`)).body) as { hello: string; connection_id: number | null };
      expect(body.hello).to.equal('world');
      expect(body.connection_id, "two copies: the app reads the other copy's empty context").to.equal(null);
    } finally {
      await stop(r, 'SIGKILL');
    }
  });
});
