// Which fields of pounce's JSON log lines the shipped configs and documented
// queries read — extracted from the files themselves (deploy/, otel/, docs),
// not kept by hand, so that a test running real pounce can check every one of
// them exists with the type the configs assume.
//
//   fieldsReadByShippedConfigs()          -> ['bytes_sent', 'client_addr', ...]
//   fieldTypesAssumedByShippedConfigs()   -> { slow: 'boolean', status: 'integer', ... }
//   fieldsReadPerSource()                 -> [{ source: 'deploy/promtail/promtail.yaml', fields: [...] }, ...]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type FieldType = 'string' | 'integer' | 'number' | 'boolean';

export interface FieldSource {
  /** repo-relative file (and, for docs, the kind of query) */
  source: string;
  fields: string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const read = (rel: string): string => readFileSync(path.join(repoRoot, rel), 'utf8');
const readYaml = (rel: string): Json => YAML.parse(read(rel)) as Json;
const readJson = (rel: string): Json => JSON.parse(read(rel)) as Json;
const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const str = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** Files of a directory (recursive), repo-relative, filtered by extension. */
export function listFiles(relDir: string, exts: string[], exclude: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(repoRoot, rel);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const childRel = path.posix.join(rel, entry.name);
      if (exclude(childRel)) continue;
      if (entry.isDirectory()) walk(childRel);
      else if (exts.some((e) => entry.name.endsWith(e))) out.push(childRel);
    }
  };
  walk(relDir);
  return out.sort();
}

// ---------------------------------------------------------------------------
// Loki shippers: Promtail (YAML) and Alloy (River). Both map JSON keys into an
// "extracted" map; labels / timestamp / structured metadata refer to that map.

interface ShipperMapping {
  /** extracted name -> JSON key read from the line */
  extracted: Map<string, string>;
  labels: string[];
  structuredMetadata: string[];
  timestampSource?: string;
  timestampFormat?: string;
  /** labels set by relabel rules / static labels (job, namespace, pod, ...) */
  infraLabels: string[];
}

export function promtailMappings(rel: string): ShipperMapping[] {
  const doc = readYaml(rel);
  const out: ShipperMapping[] = [];
  for (const sc of asArray(isObj(doc) ? doc['scrape_configs'] : undefined)) {
    if (!isObj(sc)) continue;
    const m: ShipperMapping = { extracted: new Map(), labels: [], structuredMetadata: [], infraLabels: [] };
    for (const stage of asArray(sc['pipeline_stages'])) {
      if (!isObj(stage)) continue;
      const json = stage['json'];
      if (isObj(json) && isObj(json['expressions'])) {
        for (const [name, expr] of Object.entries(json['expressions'])) m.extracted.set(name, str(expr) ?? name);
      }
      if (isObj(stage['labels'])) m.labels.push(...Object.keys(stage['labels']));
      if (isObj(stage['structured_metadata'])) m.structuredMetadata.push(...Object.keys(stage['structured_metadata']));
      const ts = stage['timestamp'];
      if (isObj(ts)) {
        m.timestampSource = str(ts['source']);
        m.timestampFormat = str(ts['format']);
      }
    }
    for (const st of asArray(sc['static_configs'])) {
      if (isObj(st) && isObj(st['labels'])) m.infraLabels.push(...Object.keys(st['labels']).filter((l) => !l.startsWith('__')));
    }
    for (const rc of asArray(sc['relabel_configs'])) {
      const t = isObj(rc) ? str(rc['target_label']) : undefined;
      if (t && !t.startsWith('__')) m.infraLabels.push(t);
    }
    out.push(m);
  }
  return out;
}

/** Strips // comments from River/Alloy text, leaving strings intact. */
export function stripAlloyComments(text: string): string {
  let out = '';
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inStr = false;
    } else if (c === '"') {
      inStr = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else out += c;
  }
  return out;
}

/** The body of the first `{ ... }` block that starts at or after `from`. */
function braceBlock(text: string, from: number): string | undefined {
  const open = text.indexOf('{', from);
  if (open < 0) return undefined;
  let depth = 0;
  let inStr = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  return undefined;
}

function alloyBlocks(text: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`(^|[\\s{])${name.replace('.', '\\.')}\\s*(?:"[^"]*"\\s*)?\\{`, 'g');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = braceBlock(text, m.index + m[0].length - 1);
    if (body !== undefined) out.push(body);
  }
  return out;
}

function alloyAssignments(body: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /"?([A-Za-z_][\w.]*)"?\s*=\s*"([^"]*)"/g;
  for (let m = re.exec(body); m; m = re.exec(body)) out.set(m[1] as string, m[2] as string);
  return out;
}

export function alloyMapping(rel: string): ShipperMapping {
  const text = stripAlloyComments(read(rel));
  const m: ShipperMapping = { extracted: new Map(), labels: [], structuredMetadata: [], infraLabels: [] };
  for (const body of alloyBlocks(text, 'stage.json')) {
    const exprs = braceBlock(body, body.indexOf('expressions'));
    for (const [name, key] of alloyAssignments(exprs ?? '')) m.extracted.set(name, key === '' ? name : key);
  }
  for (const body of alloyBlocks(text, 'stage.labels')) m.labels.push(...alloyAssignments(braceBlock(body, 0) ?? '').keys());
  for (const body of alloyBlocks(text, 'stage.structured_metadata')) {
    m.structuredMetadata.push(...alloyAssignments(braceBlock(body, 0) ?? '').keys());
  }
  for (const body of alloyBlocks(text, 'stage.timestamp')) {
    const a = alloyAssignments(body);
    m.timestampSource = a.get('source');
    m.timestampFormat = a.get('format');
  }
  for (const body of alloyBlocks(text, 'rule')) {
    const t = alloyAssignments(body).get('target_label');
    if (t && !t.startsWith('__')) m.infraLabels.push(t);
  }
  // static labels: `labels = {"job" = "pounce"}` (loki.source.*) and `path_targets = [{...}]` (local.file_match)
  for (const lm of text.matchAll(/\b(?:labels|path_targets)\s*=\s*\[?\s*\{([^}]*)\}/g)) {
    for (const key of alloyAssignments(lm[1] as string).keys()) if (!key.startsWith('__')) m.infraLabels.push(key);
  }
  return m;
}

function jsonKeysOf(m: ShipperMapping): string[] {
  const keys = new Set(m.extracted.values());
  const viaExtracted = (n: string): string => m.extracted.get(n) ?? n;
  for (const l of m.labels) keys.add(viaExtracted(l));
  for (const s of m.structuredMetadata) keys.add(viaExtracted(s));
  if (m.timestampSource) keys.add(viaExtracted(m.timestampSource));
  return [...keys];
}

export const LOKI_SHIPPERS = {
  promtail: () => listFiles('deploy/promtail', ['.yaml', '.yml']),
  alloy: () => listFiles('deploy/alloy', ['.alloy']),
};

/** Labels that come from log fields (event, level, logger) and infra labels (job, pod, ...). */
export function lokiLabelSets(): { fieldLabels: Set<string>; infraLabels: Set<string> } {
  const fieldLabels = new Set<string>();
  const infraLabels = new Set<string>(['service_name']); // OTLP ingestion (otel/collector-logs.yaml)
  const all = [...LOKI_SHIPPERS.promtail().flatMap(promtailMappings), ...LOKI_SHIPPERS.alloy().map(alloyMapping)];
  for (const m of all) {
    m.labels.forEach((l) => fieldLabels.add(l));
    m.infraLabels.forEach((l) => infraLabels.add(l));
  }
  return { fieldLabels, infraLabels };
}

// ---------------------------------------------------------------------------
// Query languages

/** Fields a LogQL query reads from pounce's lines (label filters after a parser, unwrap, by/without, selector labels made from fields). */
export function logqlFields(query: string, labels = lokiLabelSets()): string[] {
  const fields = new Set<string>();
  let q = query
    .replace(/\$\$?\{[^}]*\}/g, 'X') // ${__value.raw}, $${__trace.traceId}
    .replace(/\$__\w+/g, '1m') // [$__auto]
    .replace(/"(?:[^"\\]|\\.)*"|`[^`]*`/g, (s) => (s.startsWith('"') ? '"s"' : '`s`'));
  // stream selectors
  q = q.replace(/\{([^{}]*)\}/g, (_all, inner: string) => {
    for (const m of inner.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)) {
      const name = m[1] as string;
      if (labels.fieldLabels.has(name)) fields.add(name);
    }
    return ' ';
  });
  const add = (name: string): void => {
    if (name.startsWith('__') || labels.infraLabels.has(name)) return;
    fields.add(name);
  };
  for (const m of q.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|==|>=|<=|=|>|<)\s*(?:"|`|-?\d)/g)) add(m[1] as string);
  for (const m of q.matchAll(/\bunwrap\s+(?:\w+\()?([A-Za-z_]\w*)/g)) add(m[1] as string);
  for (const m of q.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const n of (m[1] as string).split(',')) if (n.trim()) add(n.trim());
  }
  return [...fields];
}

/** Fields a Kibana KQL query reads (`field: value`). */
export function kqlFields(query: string): string[] {
  const q = query.replace(/"(?:[^"\\]|\\.)*"/g, '"s"');
  return [...new Set([...q.matchAll(/([A-Za-z_@][\w.]*)\s*:/g)].map((m) => m[1] as string))];
}

/** Datadog remaps (target attribute -> pounce field) declared in deploy/datadog/pipeline.json. */
export function datadogRemaps(): Map<string, string> {
  const remaps = new Map<string, string>();
  const pipeline = readJson('deploy/datadog/pipeline.json');
  for (const p of asArray(isObj(pipeline) ? pipeline['processors'] : undefined)) {
    if (!isObj(p) || p['type'] !== 'attribute-remapper') continue;
    const target = str(p['target']);
    const source = str(asArray(p['sources'])[0]);
    if (target && source) remaps.set(target, source);
  }
  return remaps;
}

/** Fields a Datadog log query reads (`@field:value`), through the pipeline's remaps. */
export function datadogFields(query: string, remaps = datadogRemaps()): string[] {
  return [...new Set([...query.matchAll(/@([\w.]+)\s*:/g)].map((m) => remaps.get(m[1] as string) ?? (m[1] as string)))];
}

/** Fields a jq program reads (`.field`). */
export function jqFields(program: string): string[] {
  const p = program.replace(/"(?:[^"\\]|\\.)*"/g, '"s"');
  return [...new Set([...p.matchAll(/(?<![\w\])])\.([A-Za-z_]\w*)/g)].map((m) => m[1] as string))];
}

export interface DocQuery {
  file: string;
  lang: 'logql' | 'kql' | 'datadog' | 'jq';
  query: string;
}

/** Queries in the docs' fenced code blocks: ```logql, ```kql, ```datadog, and jq programs in ```sh blocks. */
export function documentedQueries(files = ['deploy/README.md', 'docs/deploy.md', 'otel/README.md']): DocQuery[] {
  const out: DocQuery[] = [];
  for (const file of files) {
    if (!existsSync(path.join(repoRoot, file))) continue;
    const text = read(file);
    for (const m of text.matchAll(/^[ \t]*```(\w+)[^\n]*\n([\s\S]*?)^[ \t]*```/gm)) {
      const lang = m[1] as string;
      const body = (m[2] as string).split('\n').map((l) => l.replace(/^ {3}/, ''));
      const lines = body.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
      if (lang === 'logql' || lang === 'kql' || lang === 'datadog') {
        for (const line of lines) out.push({ file, lang, query: line.trim() });
      } else if (lang === 'sh' || lang === 'bash') {
        for (const line of lines) {
          for (const jm of line.matchAll(/\bjq\s+(?:-\w+\s+)*'([^']*)'/g)) out.push({ file, lang: 'jq', query: jm[1] as string });
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Elasticsearch / Filebeat, Datadog, OpenTelemetry Collector, Grafana

export const ES_TEMPLATE = 'deploy/filebeat/pounce-index-template.json';

function esTemplateProperties(): Obj {
  const t = readJson(ES_TEMPLATE);
  const tpl = isObj(t) ? t['template'] : undefined;
  const mappings = isObj(tpl) ? tpl['mappings'] : undefined;
  const props = isObj(mappings) ? mappings['properties'] : undefined;
  return isObj(props) ? props : {};
}

const ES_TYPES: Record<string, FieldType> = {
  keyword: 'string',
  text: 'string',
  date: 'string',
  date_nanos: 'string',
  ip: 'string',
  long: 'integer',
  integer: 'integer',
  short: 'integer',
  byte: 'integer',
  double: 'number',
  float: 'number',
  half_float: 'number',
  scaled_float: 'number',
  boolean: 'boolean',
};

/** The type of each pounce field as the Elasticsearch index template maps it. */
export function fieldTypesAssumedByShippedConfigs(): Record<string, FieldType> {
  const out: Record<string, FieldType> = {};
  for (const [name, def] of Object.entries(esTemplateProperties())) {
    if (name.startsWith('@')) continue;
    const esType = isObj(def) ? str(def['type']) : undefined;
    const t = esType ? ES_TYPES[esType] : undefined;
    if (t) out[name] = t;
  }
  return out;
}

function filebeatFields(rel: string): string[] {
  const out = new Set<string>();
  const doc = readYaml(rel);
  for (const p of asArray(isObj(doc) ? doc['processors'] : undefined)) {
    const ts = isObj(p) ? p['timestamp'] : undefined;
    const f = isObj(ts) ? str(ts['field']) : undefined;
    if (f) out.add(f);
  }
  return [...out];
}

function datadogPipelineFields(): string[] {
  const out = new Set<string>();
  const pipeline = readJson('deploy/datadog/pipeline.json');
  for (const p of asArray(isObj(pipeline) ? pipeline['processors'] : undefined)) {
    if (isObj(p)) for (const s of asArray(p['sources'])) if (typeof s === 'string') out.add(s);
  }
  return [...out];
}

/** `attributes.x` / `body.x` references in the filelog receivers' operators. */
export function otelLogFields(rel: string): string[] {
  const out = new Set<string>();
  const visit = (v: Json | undefined): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isObj(v)) {
      for (const [k, child] of Object.entries(v)) {
        if ((k === 'parse_from' || k === 'field') && typeof child === 'string') {
          const m = /^(?:attributes|body)\.([A-Za-z_]\w*)$/.exec(child);
          if (m) out.add(m[1] as string);
        } else if (k === 'if' && typeof child === 'string') {
          for (const m of child.matchAll(/(?:attributes|body)\.([A-Za-z_]\w*)/g)) out.add(m[1] as string);
        } else visit(child);
      }
    }
  };
  const doc = readYaml(rel);
  const receivers = isObj(doc) ? doc['receivers'] : undefined;
  if (isObj(receivers)) for (const [name, r] of Object.entries(receivers)) if (name.startsWith('filelog')) visit(r);
  return [...out];
}

/** JSON keys a derived-field regex such as `"trace_id"\s*:\s*"(\w+)"` matches. */
export function regexJsonKeys(re: string): string[] {
  return [...re.matchAll(/"([A-Za-z_]\w*)"\s*(?:\\s\*)?:/g)].map((m) => m[1] as string);
}

function grafanaFields(labels: ReturnType<typeof lokiLabelSets>): FieldSource[] {
  const out: FieldSource[] = [];
  for (const rel of listFiles('deploy/grafana/provisioning/datasources', ['.yaml', '.yml'])) {
    const fields = new Set<string>();
    const doc = readYaml(rel);
    for (const ds of asArray(isObj(doc) ? doc['datasources'] : undefined)) {
      const jd = isObj(ds) ? ds['jsonData'] : undefined;
      if (!isObj(jd)) continue;
      for (const df of asArray(jd['derivedFields'])) {
        if (!isObj(df)) continue;
        regexJsonKeys(str(df['matcherRegex']) ?? '').forEach((f) => fields.add(f));
        if (str(df['datasourceUid']) === 'loki') logqlFields(str(df['url']) ?? '', labels).forEach((f) => fields.add(f));
      }
      for (const key of ['tracesToLogsV2', 'tracesToLogs']) {
        const t = jd[key];
        if (isObj(t) && str(t['query'])) logqlFields(str(t['query']) as string, labels).forEach((f) => fields.add(f));
      }
    }
    out.push({ source: rel, fields: [...fields].sort() });
  }
  for (const rel of listFiles('deploy/grafana/dashboards', ['.json'])) {
    const fields = new Set<string>();
    const doc = readJson(rel);
    const visit = (v: Json | undefined): void => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (isObj(v)) {
        // LogQL only: the dashboard's Prometheus targets (datasource type prometheus) read metrics, not log fields.
        const ds = v['datasource'];
        const isPromQL = isObj(ds) && ds['type'] === 'prometheus';
        if (typeof v['expr'] === 'string' && !isPromQL) logqlFields(v['expr'], labels).forEach((f) => fields.add(f));
        Object.values(v).forEach(visit);
      }
    };
    visit(doc);
    out.push({ source: rel, fields: [...fields].sort() });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Timestamp layouts the shippers use, as RegExps (to check them against pounce's real timestamps)

/** strptime layout (OTel stanza directives) -> anchored RegExp. */
export function strptimeRegex(layout: string): RegExp {
  const map: Record<string, string> = { Y: '\\d{4}', m: '\\d{2}', d: '\\d{2}', H: '\\d{2}', M: '\\d{2}', S: '\\d{2}', f: '\\d{1,9}', L: '\\d{3}', z: '[+-]\\d{4}', j: '[+-]\\d{2}:\\d{2}' };
  let re = '';
  for (let i = 0; i < layout.length; i++) {
    const c = layout[i] as string;
    if (c === '%') {
      const d = layout[++i] as string;
      const part = map[d];
      if (!part) throw new Error(`unsupported strptime directive %${d}`);
      re += part;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Go reference-time layout -> anchored RegExp (the parts Filebeat layouts use). */
export function goLayoutRegex(layout: string): RegExp {
  const tokens: [string, string][] = [
    ['2006', '\\d{4}'], ['01', '\\d{2}'], ['02', '\\d{2}'], ['15', '\\d{2}'], ['04', '\\d{2}'], ['05', '\\d{2}'],
    ['.999999999', '(\\.\\d{1,9})?'], ['.999999', '(\\.\\d{1,9})?'], ['.000000', '\\.\\d{6}'], ['.999', '(\\.\\d{1,9})?'],
    ['Z07:00', '(Z|[+-]\\d{2}:\\d{2})'],
  ];
  let re = '';
  let i = 0;
  outer: while (i < layout.length) {
    for (const [tok, part] of tokens) {
      if (layout.startsWith(tok, i)) {
        re += part;
        i += tok.length;
        continue outer;
      }
    }
    re += (layout[i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    i++;
  }
  return new RegExp(`^${re}$`);
}

// ---------------------------------------------------------------------------

/** Every shipped config / documented query, with the pounce fields it reads. */
export function fieldsReadPerSource(): FieldSource[] {
  const labels = lokiLabelSets();
  const out: FieldSource[] = [];
  for (const rel of LOKI_SHIPPERS.promtail()) {
    out.push({ source: rel, fields: [...new Set(promtailMappings(rel).flatMap(jsonKeysOf))].sort() });
  }
  for (const rel of LOKI_SHIPPERS.alloy()) out.push({ source: rel, fields: jsonKeysOf(alloyMapping(rel)).sort() });
  for (const rel of listFiles('deploy/filebeat', ['.yml', '.yaml'])) out.push({ source: rel, fields: filebeatFields(rel).sort() });
  out.push({ source: ES_TEMPLATE, fields: Object.keys(fieldTypesAssumedByShippedConfigs()).sort() });
  out.push({ source: 'deploy/datadog/pipeline.json', fields: datadogPipelineFields().sort() });
  for (const rel of listFiles('otel', ['.yaml', '.yml'])) {
    const f = otelLogFields(rel);
    if (f.length) out.push({ source: rel, fields: f.sort() });
  }
  out.push(...grafanaFields(labels));
  const remaps = datadogRemaps();
  for (const q of documentedQueries()) {
    const fields =
      q.lang === 'logql' ? logqlFields(q.query, labels) : q.lang === 'kql' ? kqlFields(q.query) : q.lang === 'datadog' ? datadogFields(q.query, remaps) : jqFields(q.query);
    out.push({ source: `${q.file} (${q.lang}: ${q.query})`, fields: fields.sort() });
  }
  return out;
}

/** The union: every pounce log field some shipped config or documented query reads. */
export function fieldsReadByShippedConfigs(): string[] {
  return [...new Set(fieldsReadPerSource().flatMap((s) => s.fields))].sort();
}
