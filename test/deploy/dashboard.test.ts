// The Grafana dashboard (deploy/grafana/dashboards/pounce.json, also shipped in
// the chart): every PromQL expression is evaluated by a real Prometheus
// (Debian's `prometheus`) scraping a real pounce under traffic, and must return
// series; every LogQL query is parsed with Grafana's own LogQL grammar
// (@grafana/lezer-logql, what Grafana's query editor uses) and its pipeline is
// run over pounce's real lines at the chart's default level (info), so each Loki
// panel is shown to have lines to show.
//
// What the LogQL half does NOT prove: there is no Loki here, so stream selection
// (which labels a shipper sets) and Loki's own execution of range aggregations
// are not exercised; the selector labels are checked against the shipped
// shipper configs (configs.test.ts) instead.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parser as logqlParser } from '@grafana/lezer-logql';
import type { SyntaxNode } from '@lezer/common';
import { startPounce, sleep, type LogLine, type PounceProcess, freePort } from '../helpers/pounce.js';
import { repoRoot } from './shipped-fields.js';

type Obj = Record<string, unknown>;
interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: unknown;
  datasource?: { type: string; uid: string };
  options?: { value: string }[];
  allValue?: string;
}

const DASHBOARD = 'deploy/grafana/dashboards/pounce.json';
const dashboardText = readFileSync(path.join(repoRoot, DASHBOARD), 'utf8');
const dashboard = JSON.parse(dashboardText) as { panels: Panel[]; templating: { list: Variable[] }; uid: string };
const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));
const promTargets = targets.filter((t) => t.target.datasource.type === 'prometheus');
const lokiTargets = targets.filter((t) => t.target.datasource.type === 'loki');

/** Grafana's substitution of the dashboard variables (multi-value regex formatting). */
function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$(\w+)|\$\{(\w+)\}/g, (all, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b) as string;
    if (!(name in values)) throw new Error(`no value for ${all} in ${expr}`);
    return values[name] as string;
  });
}

describe('deploy: Grafana dashboard', function () {
  this.timeout(90_000);

  describe('structure', () => {
    it('has Prometheus and Loki datasource variables, and namespace and pod variables from the metrics', () => {
      expect(variables.get('prometheus')).to.include({ type: 'datasource', query: 'prometheus' });
      expect(variables.get('loki')).to.include({ type: 'datasource', query: 'loki' });
      for (const name of ['namespace', 'pod']) {
        const v = variables.get(name) as Variable;
        expect(v.type, name).to.equal('query');
        expect(v.datasource).to.deep.equal({ type: 'prometheus', uid: '${prometheus}' });
        expect(JSON.stringify(v.query), name).to.include(`label_values(pounce_http_requests_total`);
        expect(v.allValue).to.equal('.*');
      }
      // the Loki stream label works on both shipping paths (Alloy/Promtail: job, OTel Collector: service_name)
      expect((variables.get('log_stream')?.options ?? []).map((o) => o.value)).to.deep.equal(['job="pounce"', 'service_name="pounce"']);
    });

    it('no hard-coded datasource: every panel and target uses ${prometheus} or ${loki}', () => {
      expect(dashboard.panels.filter((p) => p.type !== 'row').length).to.be.at.least(10);
      for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
        expect(['${prometheus}', '${loki}'], p.title).to.include(p.datasource?.uid);
        for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).to.deep.equal(p.datasource);
      }
    });

    it('covers the issue\'s panels: rate, errors, latency percentiles, in-flight (metrics); slow, disconnects, close reasons, a log panel (Loki)', () => {
      const prom = promTargets.map((t) => t.target.expr).join('\n');
      expect(prom).to.include('rate(pounce_http_requests_total');
      expect(prom).to.match(/status_code=~"5\.\."/);
      for (const q of ['0.5', '0.95', '0.99']) expect(prom).to.include(`histogram_quantile(${q}, sum by (le) (rate(pounce_http_request_duration_seconds_bucket`);
      expect(prom).to.include('pounce_http_requests_in_flight');
      const loki = lokiTargets.map((t) => t.target.expr).join('\n');
      for (const e of ['event="RequestSlow"', 'slow="true"', 'event="ClientDisconnected"', 'event="ConnectionCompleted"']) expect(loki).to.include(e);
      expect(dashboard.panels.filter((p) => p.type === 'logs').length).to.be.at.least(1);
      for (const { target } of [...promTargets, ...lokiTargets]) expect(target.expr).to.match(/namespace=~"\$namespace", pod=~"\$pod"/);
    });

    it('the chart ships the same file (charts/pounce/dashboards/pounce.json)', () => {
      expect(readFileSync(path.join(repoRoot, 'charts/pounce/dashboards/pounce.json'), 'utf8')).to.equal(dashboardText);
    });
  });

  describe('every LogQL query parses (Grafana\'s LogQL grammar) and selects real lines at level info', () => {
    let pounce: PounceProcess;

    /** Error nodes in the parse tree of a query (empty: it parses). */
    function parseErrors(q: string): number[] {
      const errors: number[] = [];
      logqlParser.parse(q).iterate({
        enter: (n) => {
          if (n.type.isError) errors.push(n.from);
        },
      });
      return errors;
    }

    const lokiValueSets = (): Record<string, string>[] =>
      (variables.get('log_stream')?.options ?? []).map((o) => ({
        log_stream: o.value,
        namespace: '.*',
        pod: '.*',
        __auto: '1m',
        search: '',
        level: '(warn|error)',
      }));

    before(async () => {
      // The chart's defaults: JSON, lifecycle on, level info; a short slow threshold.
      pounce = await startPounce({
        app: 'node-hello.js',
        args: ['--lifecycle-logging', '--log-level', 'info', '--log-slow-requests-threshold', '0.2', '--health-check-path', '/health'],
      });
      for (let i = 0; i < 3; i++) await (await fetch(`${pounce.url}/ok`)).text();
      await (await fetch(`${pounce.url}/slow?ms=600`)).text(); // RequestSlow, then a slow ResponseCompleted
      const s = connect(pounce.port, '127.0.0.1'); // ClientDisconnected
      await once(s, 'connect');
      s.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
      await sleep(100);
      s.destroy();
      const bad = connect(pounce.port, '127.0.0.1'); // ConnectionCompleted reason error (warn)
      await once(bad, 'connect');
      bad.resume(); // read the 400 and the server's FIN
      bad.write('NOT HTTP\r\n\r\n');
      await once(bad, 'close');
      await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'error');
      await pounce.waitForEvent('ClientDisconnected');
    });

    after(async () => {
      if (pounce) await pounce.stop();
    });

    it('the grammar is strict enough to tell: a broken query has errors', () => {
      expect(parseErrors('{job="pounce" | json')).to.not.deep.equal([]);
      expect(parseErrors('sum(count_over_time({job="pounce"} | json | slow "true" [1m]))')).to.not.deep.equal([]);
      expect(parseErrors('{job="pounce"} | json | slow="true"')).to.deep.equal([]);
    });

    it(`${lokiTargets.length} Loki queries parse with every stream label choice`, () => {
      expect(lokiTargets.length).to.be.at.least(5);
      for (const { panel, target } of lokiTargets) {
        for (const values of lokiValueSets()) {
          const q = substitute(target.expr, values);
          expect(parseErrors(q), `${panel.title}: ${q}`).to.deep.equal([]);
        }
      }
    });

    it('each Loki query\'s pipeline keeps at least one real line written at level info (and its `by` labels are in it)', () => {
      const lines = pounce.stdoutText.split('\n').filter((l) => l.trim() !== '');
      expect(lines.length).to.be.greaterThan(3);
      for (const { panel, target } of lokiTargets) {
        const q = substitute(target.expr, lokiValueSets()[0] as Record<string, string>);
        const pipeline = compilePipeline(q);
        const kept = lines.map((l) => pipeline.run(l)).filter((x): x is Record<string, string> => x !== null);
        expect(kept.length, `${panel.title}: no real line passes ${q}`).to.be.greaterThan(0);
        for (const label of pipeline.groupBy) {
          expect(kept.some((k) => label in k), `${panel.title}: no kept line has the label ${label}`).to.equal(true);
        }
      }
    });

    it('the pipeline evaluator is not a rubber stamp: a filter on a value pounce never writes keeps nothing', () => {
      const lines = pounce.stdoutText.split('\n').filter((l) => l.trim() !== '');
      const none = compilePipeline('{job="pounce"} | json | event="NoSuchEvent"');
      expect(lines.filter((l) => none.run(l) !== null)).to.deep.equal([]);
      const some = compilePipeline('{job="pounce"} |= "Disconnected" | json | level=~"warn|error"');
      expect(lines.filter((l) => some.run(l) !== null).length).to.be.greaterThan(0);
      expect(pounce.lines.filter((l: LogLine) => l.event === 'ResponseCompleted' && l.slow !== true), 'level info: no fast ResponseCompleted').to.deep.equal([]);
    });
  });

  describe('every PromQL expression returns series from a real Prometheus scraping pounce', () => {
    let pounce: PounceProcess;
    let prometheus: ChildProcess;
    let promUrl = '';
    let dir = '';

    async function query(q: string): Promise<{ metric: Obj; value: [number, string] }[]> {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Obj; value: [number, string] }[] } };
      expect(body.status, `${q}: ${body.error ?? ''}`).to.equal('success');
      return body.data.result;
    }

    async function waitUntil(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        try {
          if (await check()) return;
        } catch {
          // Prometheus still starting
        }
        await sleep(250);
      }
      throw new Error(`timed out waiting for ${what}`);
    }

    before(async () => {
      try {
        execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
      } catch {
        throw new Error('prometheus is not installed: npm test installs it (pretest: node test/tools/ensure.mjs)');
      }
      pounce = await startPounce({
        app: 'node-hello.js',
        args: ['--metrics-path', '/metrics', '--lifecycle-logging', '--log-level', 'info', '--log-slow-requests-threshold', '0.2'],
      });
      dir = mkdtempSync(path.join(tmpdir(), 'pounce-dashboard-prom-'));
      const promPort = await freePort();
      promUrl = `http://127.0.0.1:${promPort}`;
      // namespace/pod target labels stand in for what Kubernetes service discovery adds.
      writeFileSync(
        path.join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          'scrape_configs:',
          '  - job_name: pounce',
          '    metrics_path: /metrics',
          '    static_configs:',
          `      - targets: ['127.0.0.1:${pounce.port}']`,
          '        labels: {namespace: web, pod: pounce-7d9f-abcde}',
          '',
        ].join('\n'),
      );
      prometheus = spawn(
        'prometheus',
        [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
        { stdio: 'ignore' },
      );
      await waitUntil('the first scrape', async () => (await query('up{job="pounce"} == 1')).length === 1);
      // Traffic while Prometheus scrapes every second: about 4 s, bounded, to 127.0.0.1 only.
      const end = Date.now() + 4000;
      let i = 0;
      while (Date.now() < end) {
        const kind = i++ % 10;
        const p =
          kind === 0 ? '/status?code=500' : kind === 1 ? '/status?code=404' : kind === 2 ? '/slow?ms=300' : '/ok';
        if (kind === 3) {
          const s = connect(pounce.port, '127.0.0.1');
          await once(s, 'connect');
          s.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
          await sleep(20);
          s.destroy();
        }
        await (await fetch(`${pounce.url}${p}`)).text();
        await sleep(40);
      }
      await sleep(2500); // two more scrapes
    });

    after(async () => {
      if (prometheus) {
        prometheus.kill('SIGTERM');
        await once(prometheus, 'exit').catch(() => {});
      }
      if (pounce) await pounce.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the namespace and pod variables find their values (Grafana runs label_values as a series/label query)', async () => {
      const ns = (await (await fetch(`${promUrl}/api/v1/label/namespace/values?match[]=pounce_http_requests_total`)).json()) as { data: string[] };
      expect(ns.data).to.deep.equal(['web']);
      const pods = (await (await fetch(`${promUrl}/api/v1/label/pod/values?match[]=${encodeURIComponent('pounce_http_requests_total{namespace=~"web"}')}`)).json()) as { data: string[] };
      expect(pods.data).to.deep.equal(['pounce-7d9f-abcde']);
    });

    for (const [label, values] of [
      ['All namespaces and pods', { namespace: '.*', pod: '.*', __rate_interval: '15s' }],
      ['namespace web, one pod', { namespace: '(web)', pod: '(pounce-7d9f-abcde)', __rate_interval: '15s' }],
    ] as const) {
      it(`${label}: each of the ${promTargets.length} expressions returns series with finite values`, async () => {
        expect(promTargets.length).to.be.at.least(10);
        for (const { panel, target } of promTargets) {
          const q = substitute(target.expr, values);
          const result = await query(q);
          expect(result.length, `${panel.title} (${target.refId}) returned no series: ${q}`).to.be.greaterThan(0);
          for (const r of result) expect(Number.isFinite(Number(r.value[1])), `${panel.title}: ${q} = ${r.value[1]}`).to.equal(true);
        }
      });
    }

    it('the numbers mean what the panels say: 5xx ratio about 1 in 10, a p99 over the slow requests, close reasons include client_disconnect', async () => {
      const errors = promTargets.find((t) => t.panel.title === 'Error ratio' && t.target.refId === 'A') as { target: Target };
      const ratio = Number((await query(substitute(errors.target.expr, { namespace: '.*', pod: '.*', __rate_interval: '15s' })))[0]?.value[1]);
      expect(ratio).to.be.within(0.03, 0.3);
      const p99 = promTargets.find((t) => t.target.expr.startsWith('histogram_quantile(0.99')) as { target: Target };
      expect(Number((await query(substitute(p99.target.expr, { namespace: '.*', pod: '.*', __rate_interval: '15s' })))[0]?.value[1])).to.be.at.least(0.25);
      const reasons = promTargets.find((t) => t.panel.title === 'Connections closed by reason') as { target: Target };
      const byReason = (await query(substitute(reasons.target.expr, { namespace: '.*', pod: '.*', __rate_interval: '15s' }))).map((r) => r.metric['reason']);
      expect(byReason).to.include('client_disconnect');
    });

    it('the check can fail: a misspelt metric or another namespace returns nothing', async () => {
      expect(await query('sum(rate(pounce_http_request_total[15s]))')).to.deep.equal([]);
      const rate = promTargets[0] as { target: Target };
      expect(await query(substitute(rate.target.expr, { namespace: '(shop)', pod: '.*', __rate_interval: '15s' }))).to.deep.equal([]);
    });
  });
});

// ---------------------------------------------------------------------------
// A LogQL pipeline evaluator over the lezer tree, for the stages the dashboard
// uses: line filters (|= != |~ !~), `| json`, label filters (= != =~ !~ with
// and/or). Anything else throws, so a new stage can never pass unevaluated.

interface Pipeline {
  run(line: string): Record<string, string> | null;
  groupBy: string[];
}

function compilePipeline(query: string): Pipeline {
  const tree = logqlParser.parse(query);
  const text = (n: SyntaxNode): string => query.slice(n.from, n.to);
  const str = (n: SyntaxNode): string => {
    const raw = text(n);
    return raw.startsWith('`') ? raw.slice(1, -1) : (JSON.parse(raw) as string);
  };
  const stages: SyntaxNode[] = [];
  const groupBy: string[] = [];
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) throw new Error(`does not parse: ${query}`);
      if (ref.name === 'PipelineStage') stages.push(ref.node);
      if (ref.name === 'Grouping') {
        const labels = ref.node.getChild('Labels');
        for (const id of labels?.getChildren('Identifier') ?? []) groupBy.push(text(id));
      }
    },
  });
  type Step = (line: string, labels: Record<string, string> | null) => Record<string, string> | null | false;
  const matcher = (m: SyntaxNode): ((labels: Record<string, string>) => boolean) => {
    const name = text(m.getChild('Identifier') as SyntaxNode);
    const value = str(m.getChild('String') as SyntaxNode);
    const op = ['Eq', 'Neq', 'Re', 'Nre'].find((o) => m.getChild(o));
    const get = (labels: Record<string, string>): string => labels[name] ?? '';
    switch (op) {
      case 'Eq':
        return (l) => get(l) === value;
      case 'Neq':
        return (l) => get(l) !== value;
      case 'Re':
        return (l) => new RegExp(`^(?:${value})$`).test(get(l));
      case 'Nre':
        return (l) => !new RegExp(`^(?:${value})$`).test(get(l));
      default:
        throw new Error(`unsupported matcher ${text(m)}`);
    }
  };
  const labelFilter = (n: SyntaxNode): ((labels: Record<string, string>) => boolean) => {
    const m = n.getChild('Matcher');
    if (m) return matcher(m);
    const parts = n.getChildren('LabelFilter');
    if (parts.length === 2) {
      // `a or b`; `a and b`, `a, b` and `a b` all mean and.
      const [a, b] = parts.map(labelFilter) as [(l: Record<string, string>) => boolean, (l: Record<string, string>) => boolean];
      return n.getChild('Or') ? (l) => a(l) || b(l) : (l) => a(l) && b(l);
    }
    throw new Error(`unsupported label filter ${text(n)}`);
  };
  const steps: Step[] = stages.map((stage) => {
    const lf = stage.getChild('LineFilters');
    if (lf) {
      const filters = lf.getChildren('LineFilter').map((f) => {
        const kind = f.getChild('Filter')?.firstChild?.name;
        const value = str(f.getChild('String') as SyntaxNode);
        switch (kind) {
          case 'PipeExact':
            return (line: string) => line.includes(value);
          case 'Neq':
            return (line: string) => !line.includes(value);
          case 'PipeMatch':
            return (line: string) => new RegExp(value).test(line);
          case 'Nre':
            return (line: string) => !new RegExp(value).test(line);
          default:
            throw new Error(`unsupported line filter ${text(f)}`);
        }
      });
      return (line, labels) => (filters.every((f) => f(line)) ? (labels ?? {}) : false);
    }
    const parserNode = stage.getChild('LabelParser');
    if (parserNode) {
      if (!parserNode.getChild('Json') || text(parserNode).trim() !== 'json') throw new Error(`unsupported parser ${text(parserNode)}`);
      return (line, labels) => {
        let obj: unknown;
        try {
          obj = JSON.parse(line);
        } catch {
          return false;
        }
        const out: Record<string, string> = { ...(labels ?? {}) };
        // Loki's json parser: nested keys joined with _, values as their JSON text (strings unquoted).
        const flat = (o: Obj, prefix: string): void => {
          for (const [k, v] of Object.entries(o)) {
            const key = prefix + k.replace(/[^A-Za-z0-9_]/g, '_');
            if (v !== null && typeof v === 'object' && !Array.isArray(v)) flat(v as Obj, `${key}_`);
            else out[key] = typeof v === 'string' ? v : JSON.stringify(v);
          }
        };
        flat(obj as Obj, '');
        return out;
      };
    }
    const filter = stage.getChild('LabelFilter');
    if (filter) {
      const f = labelFilter(filter);
      return (_line, labels) => (labels && f(labels) ? labels : false);
    }
    throw new Error(`unsupported pipeline stage ${text(stage)}`);
  });
  return {
    groupBy,
    run(line: string) {
      let labels: Record<string, string> | null = null;
      for (const step of steps) {
        const r = step(line, labels);
        if (r === false) return null;
        labels = r;
      }
      return labels ?? {};
    },
  };
}
