import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

interface VariantResult {
  name: string;
  rps_median: number;
  ratio_median: number | null;
  runs: unknown[];
}

/**
 * A first port P such that P..P+count-1 are all free on 127.0.0.1 (bench/run.mjs listens on
 * --port-base + the variant's index). Random, below Linux's ephemeral range: a fixed base collides
 * with another `npm test` running on the same machine (a second checkout, a CI neighbour).
 */
async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (32000 - 20000 - count));
    const held: Server[] = [];
    try {
      for (let port = base; port < base + count; port++) {
        const server = createServer();
        server.on('error', () => {});
        server.listen(port, '127.0.0.1');
        const [what] = (await Promise.race([once(server, 'listening').then(() => ['ok']), once(server, 'error')])) as unknown[];
        if (what !== 'ok') break;
        held.push(server);
      }
      if (held.length === count) return base;
    } finally {
      await Promise.all(held.map((server) => new Promise((r) => server.close(r))));
    }
  }
  throw new Error(`no block of ${count} free ports found between 20000 and 32000`);
}

/**
 * The benchmark runner works end to end: it starts servers, drives them with
 * wrk, stops them and writes its JSON. Speed is never asserted here.
 */
describe('bench/run.mjs (smoke)', function () {
  this.timeout(30000);
  let dir: string;
  let portBase: number;

  before(async function () {
    const wrk = spawnSync('wrk', ['-v']);
    if (wrk.error) {
      throw new Error('wrk is not installed (needed by bench/run.mjs): npm test installs it (pretest: node test/tools/ensure.mjs)');
    }
    dir = mkdtempSync(join(tmpdir(), 'pounce-bench-smoke-'));
    portBase = await freePortBlock(24); // bench/run.mjs has 14 variants, and compare variants after them
  });

  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('measures node-http and pounce-debug and writes both with req/s and a ratio', function () {
    const out = join(dir, 'result.json');
    const run = spawnSync(
      process.execPath,
      ['bench/run.mjs', '--quick', '--only', 'node-http,pounce-debug', '--duration', '1', '--port-base', String(portBase), '--out', out],
      { cwd: ROOT, encoding: 'utf8', timeout: 25000 },
    );
    expect(run.error, String(run.error)).to.equal(undefined);
    expect(run.status, `bench/run.mjs failed:\n${run.stderr}\n${run.stdout}`).to.equal(0);

    type Round = { order: string[]; rps: Record<string, number>; ratio: Record<string, number>; baseline_rps: number[] };
    const report = JSON.parse(readFileSync(out, 'utf8')) as { variants: VariantResult[]; rounds: Round[] };
    expect(report.variants.map((v) => v.name)).to.have.members(['node-http', 'pounce-debug']);
    expect(report.rounds).to.have.length(1);
    for (const v of report.variants) {
      expect(v.rps_median, v.name).to.be.a('number').and.greaterThan(0);
      expect(v.ratio_median, v.name).to.be.a('number').and.satisfy(Number.isFinite);
      // The baseline runs before and after every variant.
      expect(v.runs, v.name).to.have.length(v.name === 'node-http' ? 2 : 1);
    }
    const [round] = report.rounds;
    expect(round!.order).to.deep.equal(['node-http', 'pounce-debug', 'node-http']);
    const baselineMean = (round!.baseline_rps[0]! + round!.baseline_rps[1]!) / 2;
    expect(round!.ratio['pounce-debug']).to.be.closeTo(round!.rps['pounce-debug']! / baselineMean, 0.001);
    expect(run.stdout).to.match(/\| pounce-debug \|/);
  });
});
