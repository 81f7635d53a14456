// Every shipped config parses and is wired together correctly, reads pounce's
// real field names with the right meaning, and labels nothing with a
// high-cardinality id. The fields the configs read are extracted from the
// configs themselves (shipped-fields.ts).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { Ajv } from 'ajv';
import {
  alloyMapping,
  datadogFields,
  documentedQueries,
  fieldsReadByShippedConfigs,
  fieldsReadPerSource,
  fieldTypesAssumedByShippedConfigs,
  goLayoutRegex,
  jqFields,
  kqlFields,
  listFiles,
  logqlFields,
  lokiLabelSets,
  otelLogFields,
  promtailMappings,
  regexJsonKeys,
  repoRoot,
  stripAlloyComments,
  strptimeRegex,
} from './shipped-fields.js';

type Obj = Record<string, unknown>;
const read = (rel: string): string => readFileSync(path.join(repoRoot, rel), 'utf8');
const yaml = (rel: string): Obj => YAML.parse(read(rel)) as Obj;
const json = (rel: string): Obj => JSON.parse(read(rel)) as Obj;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** pounce's log contract (DESIGN: lifecycle event schema + access-log lines). */
const CONTRACT_FIELDS = [
  // every line
  'level', 'timestamp', 'logger', 'msg',
  // every lifecycle event
  'event', 'connection_id', 'worker_id',
  // traced requests
  'trace_id', 'span_id', 'trace_flags',
  // per event
  'client_addr', 'client_port', 'server_addr', 'server_port', 'protocol',
  'method', 'path', 'http_version',
  'status', 'bytes_sent', 'duration_ms', 'slow',
  'elapsed_ms', 'threshold_ms',
  'during_streaming',
  'requests_served', 'total_bytes_sent', 'reason',
  // access log
  'user_agent',
];

/** Ids and free text that must never become Loki labels. */
const HIGH_CARDINALITY = ['connection_id', 'trace_id', 'span_id', 'client_addr', 'client_port', 'path', 'msg', 'timestamp', 'duration_ms', 'bytes_sent', 'user_agent', 'worker_id', 'status'];
const LOW_CARDINALITY_FIELD_LABELS = ['event', 'level', 'logger'];

/** A line as pounce writes it (JSON.stringify: no spaces). */
const SAMPLE = {
  level: 'info',
  timestamp: '2026-02-12T10:15:33.625000Z',
  logger: 'pounce.lifecycle',
  msg: 'Response completed',
  event: 'ResponseCompleted',
  connection_id: 42,
  worker_id: 2,
  method: 'GET',
  path: '/api/users',
  status: 200,
  bytes_sent: 1024,
  duration_ms: 3500,
  slow: true,
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  span_id: '00f067aa0ba902b7',
  trace_flags: '01',
};
const SAMPLE_LINE = JSON.stringify(SAMPLE);
const RFC3339_MICRO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

describe('deploy: shipped configs (deploy/, otel/, charts/)', function () {
  this.timeout(30_000);

  describe('every config file parses', () => {
    const notTemplates = (rel: string): boolean => rel.startsWith('charts/pounce/templates');
    const yamlFiles = ['deploy', 'otel', 'charts'].flatMap((d) => listFiles(d, ['.yaml', '.yml'], notTemplates));
    const jsonFiles = ['deploy', 'otel', 'charts'].flatMap((d) => listFiles(d, ['.json'], notTemplates));

    it('finds the files to check', () => {
      expect(yamlFiles).to.include.members([
        'deploy/docker-compose.yml',
        'deploy/filebeat/filebeat.yml',
        'deploy/promtail/promtail.yaml',
        'deploy/datadog/conf.yaml',
        'otel/collector-jaeger.yaml',
        'otel/collector-tempo.yaml',
        'otel/collector-logs.yaml',
        'charts/pounce/values.yaml',
        'charts/pounce/Chart.yaml',
      ]);
      expect(jsonFiles).to.include.members(['deploy/datadog/pipeline.json', 'deploy/filebeat/pounce-index-template.json', 'charts/pounce/values.schema.json']);
    });

    for (const rel of ['deploy', 'otel', 'charts'].flatMap((d) => listFiles(d, ['.yaml', '.yml'], notTemplates))) {
      it(`${rel} is valid YAML (no duplicate keys)`, () => {
        const docs = YAML.parseAllDocuments(read(rel));
        expect(docs.length).to.be.greaterThan(0);
        for (const d of docs) {
          expect(d.errors.map(String), rel).to.deep.equal([]);
          expect(d.warnings.map(String), rel).to.deep.equal([]);
          expect(d.toJS(), `${rel} is not empty`).to.not.equal(null);
        }
      });
    }

    for (const rel of ['deploy', 'otel', 'charts'].flatMap((d) => listFiles(d, ['.json'], notTemplates))) {
      it(`${rel} is valid JSON`, () => {
        expect(() => JSON.parse(read(rel))).to.not.throw();
      });
    }

    for (const rel of listFiles('deploy', ['.alloy'])) {
      it(`${rel} is well-formed Alloy: balanced blocks, every reference declared, a pipeline ending in loki.write`, () => {
        const text = stripAlloyComments(read(rel));
        // balanced (), [], {} outside strings
        const stack: string[] = [];
        const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
        let inStr = false;
        for (let i = 0; i < text.length; i++) {
          const c = text[i] as string;
          if (inStr) {
            if (c === '\\') i++;
            else if (c === '"') inStr = false;
          } else if (c === '"') inStr = true;
          else if ('([{'.includes(c)) stack.push(c);
          else if (c in pairs) expect(stack.pop(), `${rel}: unbalanced ${c} at offset ${i}`).to.equal(pairs[c]);
        }
        expect(inStr, `${rel}: unterminated string`).to.equal(false);
        expect(stack, `${rel}: unclosed blocks`).to.deep.equal([]);
        // components `kind.name "label" {` at top level
        const declared = new Set([...text.matchAll(/^([a-z_]+(?:\.[a-z_]+)+)\s+"([\w-]+)"\s*\{/gm)].map((m) => `${m[1]}.${m[2]}`));
        expect(declared.size, `${rel}: components`).to.be.greaterThan(0);
        const refs = [...text.matchAll(/\b((?:loki|discovery|local)\.[a-z_]+)\.([A-Za-z_][\w]*)\.(receiver|targets|output|rules)\b/g)].map((m) => `${m[1]}.${m[2]}`);
        expect(refs.length).to.be.greaterThan(0);
        for (const r of refs) expect([...declared], `${rel}: reference to undeclared ${r}`).to.include(r);
        expect([...declared].some((d) => d.startsWith('loki.write.')), `${rel}: loki.write`).to.equal(true);
        expect(text).to.match(/forward_to\s*=\s*\[\s*loki\.write\.\w+\.receiver\s*\]/);
        // unknown top-level component kinds are typos
        const known = ['local.file_match', 'loki.source.file', 'loki.source.docker', 'loki.source.kubernetes', 'loki.process', 'loki.write', 'discovery.docker', 'discovery.kubernetes', 'discovery.relabel'];
        for (const d of declared) expect(known, `${rel}: component ${d}`).to.include(d.replace(/\.[\w-]+$/, ''));
      });
    }
  });

  describe('Loki shippers (Alloy, Promtail): labels, timestamp, fields', () => {
    const mappings = [
      ...listFiles('deploy/promtail', ['.yaml', '.yml']).flatMap((rel) => promtailMappings(rel).map((m) => ({ rel, m }))),
      ...listFiles('deploy/alloy', ['.alloy']).map((rel) => ({ rel, m: alloyMapping(rel) })),
    ];

    it('covers Promtail (static + kubernetes_sd) and Alloy (files, docker, kubernetes)', () => {
      expect(mappings.map((x) => x.rel)).to.include.members([
        'deploy/promtail/promtail.yaml',
        'deploy/promtail/promtail-kubernetes.yaml',
        'deploy/alloy/config.alloy',
        'deploy/alloy/docker.alloy',
        'deploy/alloy/kubernetes.alloy',
      ]);
      expect(yaml('deploy/promtail/promtail-kubernetes.yaml')).to.have.nested.property('scrape_configs[0].kubernetes_sd_configs[0].role', 'pod');
    });

    for (const { rel, m } of mappings) {
      it(`${rel}: labels only event/level/logger from the line, never an id`, () => {
        expect(m.labels.length, 'some labels').to.be.greaterThan(0);
        for (const l of m.labels) {
          const field = m.extracted.get(l) ?? l;
          expect(LOW_CARDINALITY_FIELD_LABELS, `label ${l} (from field ${field})`).to.include(field);
          expect(HIGH_CARDINALITY).to.not.include(field);
        }
        for (const l of m.infraLabels) expect(HIGH_CARDINALITY, `static/relabel label ${l}`).to.not.include(l);
        expect(m.infraLabels, 'job label').to.include('job');
      });

      it(`${rel}: decodes the JSON and takes the event time from \`timestamp\` (RFC 3339, µs, Z)`, () => {
        expect(m.extracted.get('event')).to.equal('event');
        expect(m.timestampSource, 'timestamp stage source').to.not.equal(undefined);
        expect(m.extracted.get(m.timestampSource as string)).to.equal('timestamp');
        // RFC3339Nano parses fractional seconds of any length with Z
        expect(m.timestampFormat).to.be.oneOf(['RFC3339Nano', 'RFC3339']);
        expect(SAMPLE.timestamp).to.match(RFC3339_MICRO_Z);
        // trace_id is structured metadata, not a label
        expect(m.structuredMetadata.map((s) => m.extracted.get(s) ?? s)).to.include('trace_id');
      });
    }

    it('the Kubernetes variants read the pods the Helm chart labels app.kubernetes.io/name=pounce', () => {
      const promtail = yaml('deploy/promtail/promtail-kubernetes.yaml');
      const keep = arr(obj(arr(promtail['scrape_configs'])[0])['relabel_configs']).map(obj).find((r) => r['action'] === 'keep');
      expect(keep).to.deep.include({ source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], regex: 'pounce' });
      expect(read('deploy/alloy/kubernetes.alloy')).to.include('label = "app.kubernetes.io/name=pounce"');
      const pipeline = arr(obj(arr(promtail['scrape_configs'])[0])['pipeline_stages']).map(obj);
      expect(Object.keys(pipeline[0] ?? {}), 'CRI lines are unwrapped before the JSON is parsed').to.deep.equal(['cri']);
    });
  });

  describe('Filebeat + Elasticsearch', () => {
    for (const rel of ['deploy/filebeat/filebeat.yml', 'deploy/filebeat/filebeat-kubernetes.yml']) {
      it(`${rel}: the JSON is decoded to top-level fields and \`timestamp\` becomes @timestamp`, () => {
        const doc = yaml(rel);
        const ts = arr(doc['processors']).map(obj).map((p) => obj(p['timestamp'])).find((t) => t['field']);
        expect(ts?.['field']).to.equal('timestamp');
        const layouts = arr(ts?.['layouts']) as string[];
        expect(layouts.some((l) => goLayoutRegex(l).test(SAMPLE.timestamp)), `a layout in ${JSON.stringify(layouts)} parses ${SAMPLE.timestamp}`).to.equal(true);
        for (const t of arr(ts?.['test']) as string[]) expect(t).to.match(RFC3339_MICRO_Z);
        expect(doc['setup.template.enabled'], 'the ECS template would map `event` as an object').to.equal(false);
        const index = obj(doc['output.elasticsearch'])['index'] as string;
        expect(index).to.match(/^pounce-/);
        const tpl = json('deploy/filebeat/pounce-index-template.json');
        expect((tpl['index_patterns'] as string[]).some((p) => new RegExp(`^${p.replace(/\*/g, '.*')}$`).test('pounce-2026.02.12'))).to.equal(true);
      });
    }

    it('filebeat.yml reads files with filestream + ndjson at the top level (the seed used the removed `log` input)', () => {
      const input = obj(arr(yaml('deploy/filebeat/filebeat.yml')['filebeat.inputs'])[0]);
      expect(input['type']).to.equal('filestream');
      const ndjson = obj(obj(arr(input['parsers'])[0])['ndjson']);
      expect(ndjson).to.include({ target: '', add_error_key: true });
    });

    it('filebeat-kubernetes.yml: hints autodiscover, only pods that opt in (the chart annotates them)', () => {
      const provider = obj(arr(obj(yaml('deploy/filebeat/filebeat-kubernetes.yml')['filebeat.autodiscover'])['providers'])[0]);
      expect(provider['type']).to.equal('kubernetes');
      expect(provider['hints.enabled']).to.equal(true);
      expect(obj(provider['hints.default_config'])['enabled']).to.equal(false);
    });

    it('the index template types event as keyword, slow as boolean, durations as double, ids as integers', () => {
      expect(fieldTypesAssumedByShippedConfigs()).to.include({
        event: 'string',
        slow: 'boolean',
        duration_ms: 'number',
        connection_id: 'integer',
        worker_id: 'integer',
        status: 'integer',
        requests_served: 'integer',
        timestamp: 'string',
      });
      const props = obj(obj(obj(json('deploy/filebeat/pounce-index-template.json')['template'])['mappings'])['properties']);
      expect(obj(props['event'])['type']).to.equal('keyword');
      expect(obj(props['timestamp'])['type']).to.equal('date_nanos');
    });
  });

  describe('Datadog', () => {
    it('conf.yaml collects the files with source pounce', () => {
      expect(obj(arr(yaml('deploy/datadog/conf.yaml')['logs'])[0])).to.include({ type: 'file', source: 'pounce', path: '/var/log/pounce/*.log' });
    });

    it('pipeline.json resolves the status clash: status -> http.status_code, level -> log status', () => {
      const p = json('deploy/datadog/pipeline.json');
      expect(obj(p['filter'])['query']).to.equal('source:pounce');
      const procs = arr(p['processors']).map(obj);
      const statusIdx = procs.findIndex((x) => x['type'] === 'attribute-remapper' && arr(x['sources'])[0] === 'status');
      const levelIdx = procs.findIndex((x) => x['type'] === 'status-remapper');
      expect(statusIdx).to.be.at.least(0);
      expect(procs[statusIdx]).to.include({ target: 'http.status_code', preserve_source: false, target_format: 'integer' });
      expect(procs[levelIdx]?.['sources']).to.deep.equal(['level']);
      expect(procs.find((x) => x['type'] === 'date-remapper')?.['sources']).to.deep.equal(['timestamp']);
      const types = procs.map((x) => x['type']);
      const known = ['attribute-remapper', 'status-remapper', 'date-remapper', 'message-remapper', 'trace-id-remapper', 'category-processor', 'grok-parser', 'url-parser', 'user-agent-parser'];
      for (const t of types) expect(known).to.include(t);
    });
  });

  describe('OpenTelemetry Collector configs', () => {
    const defined = (doc: Obj, section: string): string[] => Object.keys(obj(doc[section]));

    for (const rel of listFiles('otel', ['.yaml', '.yml'])) {
      it(`${rel}: every pipeline component and extension is defined, env references are well-formed`, () => {
        const doc = yaml(rel);
        const service = obj(doc['service']);
        const pipelines = obj(service['pipelines']);
        expect(Object.keys(pipelines).length).to.be.greaterThan(0);
        for (const [name, p] of Object.entries(pipelines)) {
          expect(name).to.match(/^(traces|logs|metrics)(\/\w+)?$/);
          for (const section of ['receivers', 'processors', 'exporters']) {
            for (const c of arr(obj(p)[section])) expect(defined(doc, section), `${rel} ${name}.${section}`).to.include(c);
          }
          expect(arr(obj(p)['receivers']).length).to.be.greaterThan(0);
          expect(arr(obj(p)['exporters']).length).to.be.greaterThan(0);
        }
        for (const e of arr(service['extensions'])) expect(defined(doc, 'extensions')).to.include(e);
        for (const m of read(rel).matchAll(/\$\{([^}]*)\}/g)) expect(m[1], `${rel}: \${${m[1]}}`).to.match(/^env:[A-Za-z_]\w*(:-[^}]*)?$/);
      });
    }

    it('collector-jaeger.yaml and collector-tempo.yaml: OTLP in (4317/4318), traces out over otlp', () => {
      for (const [rel, exporter] of [
        ['otel/collector-jaeger.yaml', 'otlp/jaeger'],
        ['otel/collector-tempo.yaml', 'otlp/tempo'],
      ] as const) {
        const doc = yaml(rel);
        const protocols = obj(obj(obj(doc['receivers'])['otlp'])['protocols']);
        expect(obj(protocols['http'])['endpoint']).to.equal('0.0.0.0:4318');
        expect(obj(protocols['grpc'])['endpoint']).to.equal('0.0.0.0:4317');
        expect(obj(obj(obj(doc['service'])['pipelines'])['traces'])['exporters']).to.deep.equal([exporter]);
        expect(obj(obj(doc['exporters'])[exporter])['endpoint']).to.match(/:4317\}?$/);
      }
    });

    it('collector-logs.yaml: json_parser, timestamp from `timestamp`, severity from `level`, trace context via trace_parser', () => {
      const doc = yaml('otel/collector-logs.yaml');
      const ops = arr(obj(obj(doc['receivers'])['filelog/pounce'])['operators']).map(obj);
      const parser = ops.find((o) => o['type'] === 'json_parser') as Obj;
      expect(parser).to.not.equal(undefined);
      const ts = obj(parser['timestamp']);
      expect(ts).to.include({ parse_from: 'attributes.timestamp', layout_type: 'strptime', location: 'UTC' });
      expect(SAMPLE.timestamp).to.match(strptimeRegex(ts['layout'] as string));
      expect(obj(parser['severity'])['parse_from']).to.equal('attributes.level');
      const trace = ops.find((o) => o['type'] === 'trace_parser') as Obj;
      expect(ops.indexOf(trace)).to.be.greaterThan(ops.indexOf(parser));
      expect(obj(trace['trace_id'])['parse_from']).to.equal('attributes.trace_id');
      expect(obj(trace['span_id'])['parse_from']).to.equal('attributes.span_id');
      expect(obj(trace['trace_flags'])['parse_from']).to.equal('attributes.trace_flags');
      expect(otelLogFields('otel/collector-logs.yaml').sort()).to.deep.equal(['level', 'span_id', 'timestamp', 'trace_flags', 'trace_id']);
      const exporters = obj(doc['exporters']);
      expect(obj(exporters['otlphttp/loki'])['endpoint']).to.match(/\/otlp\}?$/);
      expect(Object.keys(exporters)).to.include('elasticsearch');
      expect(obj(obj(obj(doc['service'])['pipelines'])['logs'])['exporters']).to.deep.equal(['otlphttp/loki', 'elasticsearch']);
    });
  });

  describe('Grafana and the compose stack', () => {
    const ds = arr(yaml('deploy/grafana/provisioning/datasources/datasources.yaml')['datasources']).map(obj);
    const byUid = new Map(ds.map((d) => [d['uid'] as string, d]));
    const unescape = (s: string): string => s.replace(/\$\$/g, '$');

    it('provisions Loki and Jaeger, linked to each other by uid', () => {
      expect(byUid.get('loki')?.['type']).to.equal('loki');
      expect(byUid.get('jaeger')?.['type']).to.equal('jaeger');
      const t2l = obj(obj(byUid.get('jaeger')?.['jsonData'])['tracesToLogsV2']);
      expect(t2l['datasourceUid']).to.equal('loki');
      expect(unescape(t2l['query'] as string)).to.equal('{job="pounce"} | json | trace_id="${__trace.traceId}"');
      for (const df of arr(obj(byUid.get('loki')?.['jsonData'])['derivedFields']).map(obj)) {
        expect([...byUid.keys()]).to.include(df['datasourceUid']);
      }
    });

    it('the derived fields find trace_id and connection_id in a pounce line (trace -> Jaeger, connection -> Loki)', () => {
      const fields = arr(obj(byUid.get('loki')?.['jsonData'])['derivedFields']).map(obj);
      const trace = fields.find((f) => f['datasourceUid'] === 'jaeger') as Obj;
      const m = new RegExp(trace['matcherRegex'] as string).exec(SAMPLE_LINE);
      expect(m?.[1]).to.equal(SAMPLE.trace_id);
      expect(unescape(trace['url'] as string)).to.equal('${__value.raw}');
      const conn = fields.find((f) => f['name'] === 'connection_id') as Obj;
      expect(new RegExp(conn['matcherRegex'] as string).exec(SAMPLE_LINE)?.[1]).to.equal('42');
      expect(unescape(conn['url'] as string)).to.equal('{job="pounce"} | json | connection_id="${__value.raw}"');
      expect(regexJsonKeys(trace['matcherRegex'] as string)).to.deep.equal(['trace_id']);
    });

    it('the dashboard\'s datasource variables find provisioned Loki and Prometheus sources, and the provider points where compose mounts it', () => {
      const dash = json('deploy/grafana/dashboards/pounce.json');
      const vars = arr(obj(dash['templating'])['list']).map(obj);
      const dsTypes = vars.filter((v) => v['type'] === 'datasource').map((v) => v['query']);
      expect(dsTypes).to.deep.equal(['prometheus', 'loki']);
      for (const t of dsTypes) expect([...byUid.values()].some((d) => d['type'] === t), `a provisioned ${String(t)} datasource`).to.equal(true);
      const panels = arr(dash['panels']).map(obj).filter((p) => p['type'] !== 'row');
      expect(panels.length).to.be.at.least(10);
      for (const p of panels) {
        expect(['${prometheus}', '${loki}']).to.include(obj(p['datasource'])['uid']);
        for (const t of arr(p['targets']).map(obj)) {
          const expr = t['expr'] as string;
          expect(expr.split('(').length, `balanced parens: ${expr}`).to.equal(expr.split(')').length);
        }
      }
      const provider = obj(arr(yaml('deploy/grafana/provisioning/dashboards/dashboards.yaml')['providers'])[0]);
      const compose = yaml('deploy/docker-compose.yml');
      const grafanaVolumes = arr(obj(obj(compose['services'])['grafana'])['volumes']) as string[];
      expect(grafanaVolumes).to.include(`./grafana/dashboards:${String(obj(provider['options'])['path'])}:ro`);
      // compose's Prometheus scrapes the metrics path compose's pounce serves
      expect(obj(obj(obj(compose['services'])['pounce'])['environment'])['POUNCE_METRICS_PATH']).to.equal('/metrics');
      const prom = yaml('deploy/prometheus/prometheus.yml');
      const job = obj(arr(prom['scrape_configs'])[0]);
      expect(job['metrics_path']).to.equal('/metrics');
      expect(obj(arr(job['static_configs'])[0])['targets']).to.deep.equal(['pounce:8000']);
      expect(obj(byUid.get('prometheus'))['url']).to.equal('http://prometheus:9090');
    });

    it('docker-compose.yml: pounce built from the repo Dockerfile, traces to the collector, every mounted file exists', () => {
      const compose = yaml('deploy/docker-compose.yml');
      const services = obj(compose['services']);
      expect(Object.keys(services)).to.include.members(['pounce', 'otel-collector', 'jaeger', 'loki', 'alloy', 'grafana']);
      const pounce = obj(services['pounce']);
      const build = obj(pounce['build']);
      expect(existsSync(path.join(repoRoot, 'deploy', build['context'] as string, build['dockerfile'] as string))).to.equal(true);
      const env = obj(pounce['environment']);
      expect(env['POUNCE_OTEL_ENDPOINT']).to.equal('http://otel-collector:4318');
      for (const [name, svc] of Object.entries(services)) {
        for (const v of arr(obj(svc)['volumes']) as string[]) {
          const src = v.split(':')[0] as string;
          if (src.startsWith('.')) expect(existsSync(path.join(repoRoot, 'deploy', src)), `${name} mounts ${src}`).to.equal(true);
        }
        const image = obj(svc)['image'] as string | undefined;
        if (image && name !== 'pounce') expect(image, `${name} image is pinned`).to.match(/:[\w.-]*\d[\w.-]*$/);
      }
      const collector = obj(services['otel-collector']);
      expect(arr(collector['volumes'])).to.include('../otel/collector-jaeger.yaml:/etc/otelcol-contrib/config.yaml:ro');
      expect(obj(collector['environment'])['JAEGER_OTLP_ENDPOINT']).to.equal('jaeger:4317');
      expect(arr(obj(services['alloy'])['volumes'])).to.include('./alloy/docker.alloy:/etc/alloy/config.alloy:ro');
      expect(read('deploy/alloy/docker.alloy')).to.include('com.docker.compose.service=pounce');
      expect(read('deploy/alloy/docker.alloy')).to.include('url = "http://loki:3100/loki/api/v1/push"');
      expect(obj(byUid.get('loki'))['url']).to.equal('http://loki:3100');
      expect(obj(byUid.get('jaeger'))['url']).to.equal('http://jaeger:16686');
    });
  });

  describe('Helm values.schema.json (checked with Ajv too)', () => {
    const schema = json('charts/pounce/values.schema.json');
    const values = yaml('charts/pounce/values.yaml');
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

    it('accepts the default values.yaml', () => {
      expect(validate(values), JSON.stringify(validate.errors)).to.equal(true);
    });

    it('refuses a health path without a slash, an unknown log format or level, negative seconds, unknown keys', () => {
      for (const bad of [
        { healthCheckPath: 'health' },
        { logFormat: 'xml' },
        { logLevel: 'trace' },
        { drainDelay: -1 },
        { shutdownTimeout: -5 },
        { logSlowRequestsThreshold: -0.1 },
        { lifecycle_logging: true },
      ]) {
        expect(validate({ ...values, ...bad }), JSON.stringify(bad)).to.equal(false);
      }
    });
  });

  describe('documented queries (deploy/README.md, docs/deploy.md)', () => {
    const queries = documentedQueries();

    it('keeps the seed\'s Loki, Kibana and Datadog queries and jq recipes, verbatim', () => {
      const by = (lang: string): string[] => queries.filter((q) => q.lang === lang).map((q) => q.query);
      expect(by('logql')).to.include('{job="pounce"} | json | slow = "true"');
      expect(by('logql')).to.include('{job="pounce"} | json | connection_id="42"');
      expect(by('kql')).to.include('event: "ResponseCompleted" AND slow: true');
      expect(by('datadog')).to.include('@event:ResponseCompleted @slow:true');
      expect(by('jq')).to.include.members([
        'select(.slow == true)',
        'select(.connection_id == 42)',
        'select(.event == "ClientDisconnected") | .client_addr',
        'select(.event == "ResponseCompleted") | .worker_id',
        'select(.event == "ConnectionCompleted") | .requests_served',
      ]);
      const deployDoc = read('docs/deploy.md');
      expect(deployDoc).to.include('{job="pounce"} | json | slow = "true"');
      expect(deployDoc).to.include('{job="pounce"} | json | connection_id="42"');
      expect(deployDoc).to.include('pounce.connection_id');
    });

    it('LogQL queries are balanced and query fields through a parser, not as labels', () => {
      const { fieldLabels, infraLabels } = lokiLabelSets();
      for (const q of queries.filter((x) => x.lang === 'logql')) {
        expect(q.query.split('{').length, q.query).to.equal(q.query.split('}').length);
        expect(q.query.split('(').length, q.query).to.equal(q.query.split(')').length);
        // a selector may only use labels the shippers create
        for (const sel of q.query.matchAll(/\{([^}]*)\}/g)) {
          for (const m of (sel[1] as string).matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
            expect([...fieldLabels, ...infraLabels], `${q.query}: selector label ${m[1]}`).to.include(m[1]);
          }
        }
        // any other field needs `| json` first
        const nonLabel = logqlFields(q.query).filter((f) => !fieldLabels.has(f));
        if (nonLabel.length) expect(q.query, `${q.query} reads ${nonLabel.join(', ')}`).to.match(/\|\s*json\b/);
      }
    });

    it('the query-language extractors read what they should', () => {
      expect(logqlFields('{job="pounce", event="ResponseCompleted"} | json | slow="true" | unwrap duration_ms [5m]').sort()).to.deep.equal(['duration_ms', 'event', 'slow']);
      expect(logqlFields('sum by (reason, namespace) (count_over_time({job="pounce"} | json | __error__="" [$__auto]))')).to.deep.equal(['reason']);
      expect(kqlFields('event: "ResponseCompleted" AND slow: true')).to.deep.equal(['event', 'slow']);
      expect(datadogFields('@event:ResponseCompleted @http.status_code:>=500')).to.deep.equal(['event', 'status']);
      expect(jqFields('select(.event == "ClientDisconnected") | .client_addr')).to.deep.equal(['event', 'client_addr']);
    });
  });

  describe('fieldsReadByShippedConfigs()', () => {
    const fields = fieldsReadByShippedConfigs();

    it('extracts the fields the configs and queries read', () => {
      expect(fields).to.include.members([
        'event', 'slow', 'connection_id', 'client_addr', 'worker_id', 'requests_served', 'timestamp',
        'trace_id', 'span_id', 'trace_flags', 'level', 'logger', 'status', 'duration_ms', 'reason', 'msg',
      ]);
      for (const s of fieldsReadPerSource()) expect(s.fields.length, `${s.source} reads some field`).to.be.greaterThan(0);
    });

    it('reads only fields pounce writes (its lifecycle schema and access-log lines)', () => {
      for (const s of fieldsReadPerSource()) {
        for (const f of s.fields) expect(CONTRACT_FIELDS, `${s.source} reads "${f}", which pounce does not write`).to.include(f);
      }
    });

    it('every field read has a type in the Elasticsearch index template', () => {
      const types = fieldTypesAssumedByShippedConfigs();
      for (const f of fields) expect(types, `type of ${f}`).to.have.property(f);
    });

    it('the published lifecycle schema defines every lifecycle field the configs read', () => {
      const rel = 'schema/lifecycle-event.schema.json';
      expect(existsSync(path.join(repoRoot, rel)), `${rel} is published`).to.equal(true);
      const text = read(rel);
      const accessOnly = ['user_agent'];
      for (const f of fields.filter((x) => !accessOnly.includes(x))) expect(text, `${rel} mentions ${f}`).to.include(`"${f}"`);
    });
  });
});
