// The Helm chart, rendered and linted by the real helm (v4, installed by
// npm test's pretest step, test/tools/ensure.mjs), every rendered object validated against the
// Kubernetes OpenAPI schemas (kubernetes-models).
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import YAML from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Pod, Service } from 'kubernetes-models/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ALL_FEATURES,
  CHART,
  HELM,
  container,
  deployment,
  env,
  envValue,
  find,
  helm,
  probePath,
  render,
  setArgs,
  validate,
  type K8sObject,
  type Run,
  type Sets,
} from './helm-lib.js';

describe('deploy: Helm chart (charts/pounce)', function () {
  this.timeout(60_000);

  before(function () {
    if (!existsSync(HELM)) throw new Error(`helm not found at ${HELM}: npm test installs it (pretest: node test/tools/ensure.mjs)`);
    const v = helm(['version', '--short']);
    expect(v.stdout, 'the chart is tested with helm v4').to.match(/^v4\./);
  });

  describe('helm lint', () => {
    it('passes --strict with the default values', () => {
      const r = helm(['lint', CHART, '--strict']);
      expect(r.status, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.match(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    });

    it('passes --strict with ingress, HPA, PDB, ServiceMonitor and tracing on', () => {
      const r = helm(['lint', CHART, '--strict', ...setArgs(ALL_FEATURES)]);
      expect(r.status, r.stdout + r.stderr).to.equal(0);
    });
  });

  describe('rendered objects', () => {
    it('default values: Deployment, Service, ServiceAccount, PodDisruptionBudget (2 replicas) and the helm-test Pod, all valid', () => {
      const objs = render();
      expect(objs.map((o) => o.kind).sort()).to.deep.equal(['Deployment', 'Pod', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
      objs.forEach(validate);
      for (const o of objs) expect(o.metadata.namespace, `${o.kind} namespace`).to.equal('web');
    });

    it('all features: adds a valid Ingress, HPA, PodDisruptionBudget and ServiceMonitor', () => {
      const objs = render(ALL_FEATURES);
      expect(objs.map((o) => o.kind).sort()).to.deep.equal([
        'Deployment',
        'HorizontalPodAutoscaler',
        'Ingress',
        'Pod',
        'PodDisruptionBudget',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ]);
      objs.forEach(validate);
    });

    it('the HPA owns the replica count and targets the Deployment', () => {
      const objs = render(ALL_FEATURES);
      const dep = deployment(objs);
      expect(dep.spec?.replicas, 'replicas must be left to the HPA').to.equal(undefined);
      const hpa = new HorizontalPodAutoscaler(find(objs, 'HorizontalPodAutoscaler')[0] as never);
      expect(hpa.spec?.scaleTargetRef).to.include({ apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata?.name });
      expect(hpa.spec?.metrics?.map((m) => m.resource?.name)).to.deep.equal(['cpu', 'memory']);
      expect(deployment(render()).spec?.replicas).to.equal(2);
    });

    it('the Service, PDB and ServiceMonitor select the Deployment\'s pods, on the named port http (8000)', () => {
      const objs = render(ALL_FEATURES);
      const dep = deployment(objs);
      const podLabels = dep.spec?.template.metadata?.labels ?? {};
      const svc = new Service(find(objs, 'Service')[0] as never);
      const selects = (sel: Record<string, string> | undefined): boolean =>
        !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => podLabels[k] === v);
      expect(selects(svc.spec?.selector), 'Service selector').to.equal(true);
      expect(svc.spec?.ports).to.deep.equal([{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }]);
      expect(container(objs).ports).to.deep.equal([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
      const pdb = new PodDisruptionBudget(find(objs, 'PodDisruptionBudget')[0] as never);
      expect(selects(pdb.spec?.selector?.matchLabels), 'PDB selector').to.equal(true);
      const sm = find(objs, 'ServiceMonitor')[0] as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
      const svcLabels = svc.metadata?.labels ?? {};
      expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svcLabels[k] === v), 'ServiceMonitor selects the Service').to.equal(true);
      expect(sm.spec.endpoints[0]).to.include({ port: 'http', path: '/metrics' });
      expect(sm.metadata.labels).to.include({ release: 'prometheus' });
      expect(envValue(container(objs), 'POUNCE_METRICS_PATH')).to.equal('/metrics');
    });

    it('the ServiceMonitor is off by default and refuses to render without metrics.enabled', () => {
      expect(find(render(), 'ServiceMonitor')).to.have.length(0);
      const r = helm(['template', 'pounce', CHART, '--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.enabled=false']);
      expect(r.status).to.not.equal(0);
      expect(r.stderr).to.include('metrics.enabled');
    });

    it('the Ingress routes to the Service port', () => {
      const objs = render(ALL_FEATURES);
      const ing = new Ingress(find(objs, 'Ingress')[0] as never);
      expect(ing.spec?.ingressClassName).to.equal('nginx');
      const backend = ing.spec?.rules?.[0]?.http?.paths[0]?.backend.service;
      expect(backend).to.deep.equal({ name: 'pounce', port: { number: 8000 } });
      expect(ing.spec?.tls?.[0]).to.deep.equal({ hosts: ['pounce.example.com'], secretName: 'pounce-tls' });
    });
  });

  describe('health path: one value for POUNCE_HEALTH_CHECK_PATH and every probe', () => {
    for (const [label, sets, expected] of [
      ['default', {}, '/health'],
      ['--set healthCheckPath=/healthz', { healthCheckPath: '/healthz' }, '/healthz'],
      ['--set healthCheckPath=/internal/ready', { healthCheckPath: '/internal/ready' }, '/internal/ready'],
    ] as const) {
      it(`${label}: startup, readiness and liveness probe ${expected}, the path pounce answers`, () => {
        const objs = render(sets);
        const c = container(objs);
        const healthEnv = envValue(c, 'POUNCE_HEALTH_CHECK_PATH');
        expect(healthEnv).to.equal(expected);
        for (const [name, probe] of [
          ['startupProbe', c.startupProbe],
          ['readinessProbe', c.readinessProbe],
          ['livenessProbe', c.livenessProbe],
        ] as const) {
          expect(probePath(probe), `${name} path`).to.equal(healthEnv);
          expect(probe?.httpGet?.port, `${name} port`).to.equal('http');
        }
        // the helm test pod checks the same path through the Service
        const testPod = find(objs, 'Pod')[0] as K8sObject;
        expect(testPod.metadata.annotations?.['helm.sh/hook']).to.equal('test');
        expect(JSON.stringify(testPod.spec)).to.include(`:8000${expected}`);
      });
    }
  });

  describe('graceful shutdown', () => {
    const grace = (objs: K8sObject[]): number => deployment(objs).spec?.template.spec?.terminationGracePeriodSeconds ?? NaN;

    /** The longest a readiness probe takes to fail after health turns 503. */
    const readinessWindow = (objs: K8sObject[]): number => {
      const p = container(objs).readinessProbe;
      return (p?.periodSeconds ?? 10) * (p?.failureThreshold ?? 3);
    };

    it('drainDelay is derived from the readiness probe and outlasts its failure window (defaults 5 s x 2 + 5 = 15)', () => {
      const objs = render();
      const c = container(objs);
      expect(readinessWindow(objs)).to.equal(10);
      expect(Number(envValue(c, 'POUNCE_DRAIN_DELAY'))).to.be.greaterThan(readinessWindow(objs));
      expect(envValue(c, 'POUNCE_DRAIN_DELAY')).to.equal('15');
      // one source of truth: a slower probe makes a longer drain
      for (const sets of <Sets[]>[{ 'probes.readiness.periodSeconds': 10 }, { 'probes.readiness.failureThreshold': 5 }, { 'probes.readiness.periodSeconds': 1, 'probes.readiness.failureThreshold': 1 }]) {
        const o = render(sets);
        expect(Number(envValue(container(o), 'POUNCE_DRAIN_DELAY')), JSON.stringify(sets)).to.equal(readinessWindow(o) + 5);
      }
      expect(envValue(container(render({ drainPropagationSeconds: 2 })), 'POUNCE_DRAIN_DELAY')).to.equal('12');
    });

    it('a drainDelay set by hand is used, but refused when readiness would still pass after the listener closes', () => {
      expect(envValue(container(render({ drainDelay: 30 })), 'POUNCE_DRAIN_DELAY')).to.equal('30');
      for (const d of ['10', '0']) {
        const r = helm(['template', 'pounce', CHART, '--set', `drainDelay=${d}`]);
        expect(r.status, `drainDelay=${d}`).to.not.equal(0);
        expect(r.stderr).to.include('drainDelay').and.include('readiness failure window');
      }
    });

    it('terminationGracePeriodSeconds covers drainDelay + shutdownTimeout (defaults 15 + 25 + 5)', () => {
      const objs = render();
      const c = container(objs);
      expect(envValue(c, 'POUNCE_SHUTDOWN_TIMEOUT')).to.equal('25');
      expect(grace(objs)).to.be.at.least(Number(envValue(c, 'POUNCE_DRAIN_DELAY')) + 25);
      expect(grace(objs)).to.equal(45);
    });

    it('follows drainDelay and shutdownTimeout when they change', () => {
      const a = render({ drainDelay: 20, shutdownTimeout: 50 });
      expect(grace(a)).to.be.at.least(70);
      expect(envValue(container(a), 'POUNCE_DRAIN_DELAY')).to.equal('20');
      expect(envValue(container(a), 'POUNCE_SHUTDOWN_TIMEOUT')).to.equal('50');
      const b = render({ 'probes.readiness.periodSeconds': 1, 'probes.readiness.failureThreshold': 1, drainPropagationSeconds: 0, shutdownTimeout: 5 });
      expect(grace(b)).to.be.at.least(1 + 5).and.below(grace(a));
      // fractional seconds round up, and a string from `--set x=12.5` works too
      const c = helm(['template', 'pounce', CHART, '--set', 'drainDelay=12.5', '--set', 'shutdownTimeout=10']);
      expect(c.status, c.stderr).to.equal(0);
      const dep = YAML.parseAllDocuments(c.stdout).map((d) => d.toJS() as K8sObject).find((o) => o?.kind === 'Deployment');
      const g = (dep?.spec as { template: { spec: { terminationGracePeriodSeconds: number } } }).template.spec.terminationGracePeriodSeconds;
      expect(g).to.be.a('number').and.at.least(22.5);
      expect(Number.isInteger(g)).to.equal(true);
    });

    it('has no preStop hook: pounce drains itself on SIGTERM', () => {
      expect(container(render()).lifecycle?.preStop).to.equal(undefined);
    });
  });

  describe('security', () => {
    it('runs the pod under the restricted Pod Security Standard', () => {
      const objs = render();
      const pod = deployment(objs).spec?.template.spec;
      const c = container(objs);
      expect(pod?.securityContext?.runAsNonRoot).to.equal(true);
      expect(pod?.securityContext?.runAsUser).to.equal(1000);
      expect(pod?.securityContext?.seccompProfile?.type).to.equal('RuntimeDefault');
      const sc = c.securityContext;
      expect(sc?.runAsNonRoot).to.equal(true);
      expect(sc?.allowPrivilegeEscalation).to.equal(false);
      expect(sc?.readOnlyRootFilesystem).to.equal(true);
      expect(sc?.capabilities?.drop).to.deep.equal(['ALL']);
      expect(sc?.capabilities?.add ?? []).to.deep.equal([]);
      expect(sc?.privileged ?? false).to.equal(false);
      expect(sc?.seccompProfile?.type).to.equal('RuntimeDefault');
      expect(pod?.automountServiceAccountToken).to.equal(false);
      expect(pod?.hostNetwork ?? false).to.equal(false);
      // read-only root: /tmp is an emptyDir
      const tmpMount = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(tmpMount, '/tmp mount').to.not.equal(undefined);
      expect(pod?.volumes?.find((v) => v.name === tmpMount?.name)?.emptyDir).to.not.equal(undefined);
    });

    it('the helm-test pod is restricted too', () => {
      const testPod = new Pod(find(render(), 'Pod')[0] as never);
      expect(testPod.spec?.securityContext?.runAsNonRoot).to.equal(true);
      expect(testPod.spec?.securityContext?.seccompProfile?.type).to.equal('RuntimeDefault');
      const sc = testPod.spec?.containers[0]?.securityContext;
      expect(sc?.allowPrivilegeEscalation).to.equal(false);
      expect(sc?.capabilities?.drop).to.deep.equal(['ALL']);
    });
  });

  describe('environment', () => {
    it('puts pod name, namespace and node name into OTEL_RESOURCE_ATTRIBUTES through the downward API', () => {
      const c = container(render());
      const vars = env(c);
      const names = (c.env ?? []).map((e) => e.name);
      const attrs = envValue(c, 'OTEL_RESOURCE_ATTRIBUTES') ?? '';
      const pairs = new Map(attrs.split(',').map((kv) => kv.split('=') as [string, string]));
      for (const [attr, fieldPath] of [
        ['k8s.pod.name', 'metadata.name'],
        ['k8s.namespace.name', 'metadata.namespace'],
        ['k8s.node.name', 'spec.nodeName'],
      ] as const) {
        const ref = /^\$\((\w+)\)$/.exec(pairs.get(attr) ?? '');
        expect(ref, `${attr} in OTEL_RESOURCE_ATTRIBUTES="${attrs}"`).to.not.equal(null);
        const varName = (ref as RegExpExecArray)[1] as string;
        expect(vars.get(varName)?.valueFrom?.fieldRef?.fieldPath, `${varName} comes from the downward API`).to.equal(fieldPath);
        // $(VAR) only expands if VAR is declared earlier in the list
        expect(names.indexOf(varName), `${varName} declared before OTEL_RESOURCE_ATTRIBUTES`).to.be.below(names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
      }
      expect(envValue(c, 'OTEL_SERVICE_NAME')).to.equal('pounce');
      expect(vars.has('POUNCE_OTEL_ENDPOINT'), 'no endpoint: tracing stays off').to.equal(false);
    });

    it('tracing: otel.endpoint and otel.serviceName become POUNCE_OTEL_ENDPOINT and OTEL_SERVICE_NAME', () => {
      const c = container(render({ ...ALL_FEATURES, 'otel.resourceAttributes.deployment\\.environment': 'prod' }));
      expect(envValue(c, 'POUNCE_OTEL_ENDPOINT')).to.equal('http://otel-collector.observability:4318');
      expect(envValue(c, 'OTEL_SERVICE_NAME')).to.equal('shop-api');
      expect(envValue(c, 'OTEL_RESOURCE_ATTRIBUTES')).to.include('deployment.environment=prod');
    });

    it('maps each pounce value to its POUNCE_* env var', () => {
      const defaults = container(render());
      expect(Object.fromEntries((defaults.env ?? []).filter((e) => e.name.startsWith('POUNCE_')).map((e) => [e.name, e.value]))).to.deep.equal({
        POUNCE_HOST: '0.0.0.0',
        POUNCE_PORT: '8000',
        POUNCE_WORKERS: '1',
        POUNCE_HEALTH_CHECK_PATH: '/health',
        POUNCE_LOG_FORMAT: 'json',
        POUNCE_LOG_LEVEL: 'info',
        POUNCE_LIFECYCLE_LOGGING: 'true',
        POUNCE_LOG_SLOW_REQUESTS_THRESHOLD: '5',
        POUNCE_DRAIN_DELAY: '15',
        POUNCE_SHUTDOWN_TIMEOUT: '25',
        POUNCE_KEEP_ALIVE_TIMEOUT: '75',
        POUNCE_METRICS_PATH: '/metrics',
      });
      const c = container(
        render({
          logFormat: 'text',
          logLevel: 'debug',
          lifecycleLogging: false,
          workers: 4,
          logSlowRequestsThreshold: 2.5,
          accessLog: false,
          keepAliveTimeout: 75,
          'extraEnv[0].name': 'FEATURE_X',
          'extraEnv[0].value': 'on',
        }),
      );
      expect(envValue(c, 'POUNCE_LOG_FORMAT')).to.equal('text');
      expect(envValue(c, 'POUNCE_LOG_LEVEL')).to.equal('debug');
      expect(envValue(c, 'POUNCE_LIFECYCLE_LOGGING')).to.equal('false');
      expect(envValue(c, 'POUNCE_WORKERS')).to.equal('4');
      expect(envValue(c, 'POUNCE_LOG_SLOW_REQUESTS_THRESHOLD')).to.equal('2.5');
      expect(envValue(c, 'POUNCE_ACCESS_LOG')).to.equal('false');
      expect(envValue(c, 'POUNCE_KEEP_ALIVE_TIMEOUT')).to.equal('75');
      expect(envValue(c, 'FEATURE_X')).to.equal('on');
    });

    it('runs the image CMD by default, and `pounce <app.module> <extraArgs>` when app.module is set', () => {
      const byDefault = container(render());
      expect(byDefault.command).to.equal(undefined);
      expect(byDefault.args).to.equal(undefined);
      const c = container(render({ 'app.module': 'dist/server.js:app', 'extraArgs[0]': '--interface', 'extraArgs[1]': 'node' }));
      expect(c.command).to.deep.equal(['pounce']);
      expect(c.args).to.deep.equal(['dist/server.js:app', '--interface', 'node']);
      const custom = container(render({ 'app.module': 'server.js', 'app.command[0]': 'node', 'app.command[1]': 'node_modules/pounce/dist/cli.js' }));
      expect(custom.command).to.deep.equal(['node', 'node_modules/pounce/dist/cli.js']);
      expect(custom.args).to.deep.equal(['server.js']);
      const r = helm(['template', 'pounce', CHART, '--set', 'extraArgs[0]=--workers=2']);
      expect(r.status, 'extraArgs without app.module').to.not.equal(0);
      expect(r.stderr).to.include('app.module');
    });

    it('extraEnv overrides a chart variable in place, never twice (server-side apply rejects duplicates)', () => {
      const c = container(render({}, { extraEnv: [{ name: 'POUNCE_LOG_LEVEL', value: 'debug' }, { name: 'FEATURE_X', value: 'on' }, { name: 'POUNCE_KEEP_ALIVE_TIMEOUT', valueFrom: { configMapKeyRef: { name: 'lb', key: 'idle' } } }] }));
      const names = (c.env ?? []).map((e) => e.name);
      expect(names.length, `duplicates in ${names.join(' ')}`).to.equal(new Set(names).size);
      expect(envValue(c, 'POUNCE_LOG_LEVEL')).to.equal('debug');
      expect(env(c).get('POUNCE_KEEP_ALIVE_TIMEOUT')).to.deep.equal({ name: 'POUNCE_KEEP_ALIVE_TIMEOUT', valueFrom: { configMapKeyRef: { name: 'lb', key: 'idle' } } });
      // same position as the chart's entry; a new name goes last
      const chartNames = (container(render()).env ?? []).map((e) => e.name);
      expect(names.indexOf('POUNCE_LOG_LEVEL')).to.equal(chartNames.indexOf('POUNCE_LOG_LEVEL'));
      expect(names.at(-1)).to.equal('FEATURE_X');
      const twice = helm(['template', 'pounce', CHART, '--set', 'extraEnv[0].name=A', '--set', 'extraEnv[0].value=1', '--set', 'extraEnv[1].name=A', '--set', 'extraEnv[1].value=2']);
      expect(twice.status).to.not.equal(0);
      expect(twice.stderr).to.include('extraEnv names A twice');
    });

    it('the image defaults to the published image and the chart appVersion; image.digest pins it', () => {
      expect(container(render()).image).to.equal('ghcr.io/pounce-http/pounce:0.1.0');
      expect(container(render({ 'image.repository': 'registry.example.com/shop', 'image.tag': '1.2.3' })).image).to.equal('registry.example.com/shop:1.2.3');
      const digest = `sha256:${'ab'.repeat(32)}`;
      expect(container(render({ 'image.digest': digest })).image).to.equal(`ghcr.io/pounce-http/pounce:0.1.0@${digest}`);
      const bad = helm(['template', 'pounce', CHART, '--set', 'image.digest=latest']);
      expect(bad.status).to.not.equal(0);
      expect(bad.stderr).to.include('digest');
    });

    it('the version label is a valid label value for any valid tag (a tag may be 128 characters, a label 63)', () => {
      const long = `v1.2.3-${'a'.repeat(57)}`; // 64 characters
      for (const tag of [long, `1.0.0_${'b'.repeat(120)}`, '2026.12.01-rc.1', 'main.', 'x']) {
        const objs = render({ 'image.tag': tag });
        objs.forEach(validate);
        const label = deployment(objs).metadata?.labels?.['app.kubernetes.io/version'] ?? '';
        expect(label.length, tag).to.be.within(1, 63);
        expect(tag.startsWith(label.replace(/[-_.]+$/, '')), `${label} comes from ${tag}`).to.equal(true);
        expect(container(objs).image).to.equal(`ghcr.io/pounce-http/pounce:${tag}`);
      }
      expect(deployment(render()).metadata?.labels?.['app.kubernetes.io/version']).to.equal('0.1.0');
    });

    it('keep-alive outlasts common load balancer idle timeouts (60 s) by default', () => {
      expect(Number(envValue(container(render()), 'POUNCE_KEEP_ALIVE_TIMEOUT'))).to.be.greaterThan(60);
      expect(env(container(render({}, { keepAliveTimeout: null }))).has('POUNCE_KEEP_ALIVE_TIMEOUT'), 'null: pounce default').to.equal(false);
    });
  });

  describe('log shipper discovery', () => {
    it('labels and annotates the pods for Promtail/Alloy and Filebeat autodiscover', () => {
      const tpl = deployment(render()).spec?.template.metadata;
      expect(tpl?.labels?.['app.kubernetes.io/name']).to.equal('pounce');
      expect(tpl?.annotations).to.include({
        'co.elastic.logs/enabled': 'true',
        'co.elastic.logs/json.keys_under_root': 'true',
        'co.elastic.logs/json.add_error_key': 'true',
      });
      expect(Object.keys(tpl?.annotations ?? {}).some((k) => k.startsWith('ad.datadoghq.com/'))).to.equal(false);
    });

    it('logShipping.elastic=false drops the hints; podAnnotations and podLabels pass through', () => {
      const objs = render({ 'logShipping.elastic': false, 'metrics.enabled': false, 'podAnnotations.team': 'web', 'podLabels.tier': 'frontend' });
      objs.forEach(validate);
      const tpl = deployment(objs).spec?.template.metadata;
      expect(tpl?.annotations).to.deep.equal({ team: 'web' });
      expect(tpl?.labels?.['tier']).to.equal('frontend');
      expect(deployment(render({ 'logShipping.elastic': false, 'metrics.enabled': false })).spec?.template.metadata?.annotations).to.equal(undefined);
      // Metrics on (the default): Prometheus scrape annotations follow metrics.path.
      const scraped = deployment(render({ 'logShipping.elastic': false, 'metrics.path': '/internal/metrics' })).spec?.template.metadata?.annotations;
      expect(scraped).to.include({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/internal/metrics', 'prometheus.io/port': '8000' });
    });

    it('logShipping.datadog adds a parseable Datadog autodiscovery annotation for the container', () => {
      const objs = render({ 'logShipping.datadog': true });
      const c = container(objs);
      const ann = deployment(objs).spec?.template.metadata?.annotations?.[`ad.datadoghq.com/${c.name}.logs`];
      expect(JSON.parse(ann ?? 'null')).to.deep.equal([{ source: 'pounce', service: 'pounce' }]);
    });
  });

  describe('values.schema.json refuses bad values', () => {
    const refused = (sets: string[]): { template: Run; lint: Run } => ({
      template: helm(['template', 'pounce', CHART, ...sets]),
      lint: helm(['lint', CHART, ...sets]),
    });

    it('healthCheckPath without a leading slash: helm template and helm lint fail naming healthCheckPath', () => {
      const { template, lint } = refused(['--set', 'healthCheckPath=health']);
      expect(template.status).to.not.equal(0);
      expect(template.stderr).to.include('healthCheckPath');
      expect(lint.status).to.not.equal(0);
      expect(lint.stdout + lint.stderr).to.include('healthCheckPath');
    });

    for (const [value, sets] of [
      ['logFormat', ['--set', 'logFormat=xml']],
      ['logLevel', ['--set', 'logLevel=verbose']],
      ['drainDelay', ['--set-json', 'drainDelay=-1']],
      ['shutdownTimeout', ['--set', 'shutdownTimeout=soon']],
      ['logSlowRequestsThreshold', ['--set-json', 'logSlowRequestsThreshold=-0.5']],
      ['workers', ['--set-json', 'workers=0']],
      ['otel', ['--set', 'otel.endpoint=collector:4318']],
      ['lifecycle_logging', ['--set', 'lifecycle_logging=true']],
    ] as const) {
      it(`refuses a bad ${value} with a message naming it`, () => {
        const r = helm(['template', 'pounce', CHART, ...sets]);
        expect(r.status, `helm template ${sets.join(' ')} should fail`).to.not.equal(0);
        expect(r.stderr).to.include(value);
      });
    }
  });
});
