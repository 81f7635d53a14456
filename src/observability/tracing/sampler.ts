import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace-base';

/**
 * The sampler OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG ask for, as the
 * SDK reads them (default parentbased_always_on: a sampled caller's decision
 * is followed, requests of their own are all sampled). One instance serves
 * pounce's spans and the app's. Bad values fall back the way the SDK's do;
 * the SDK's BasicTracerProvider, which reads the same variables, reports them
 * (one OtelDiagnostic warn line).
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): { sampler: Sampler; name: string } {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || 'parentbased_always_on';
  const ratio = () => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
    const n = raw ? Number(raw) : NaN;
    return Number.isFinite(n) && n >= 0 && n <= 1 ? n : 1;
  };
  switch (name) {
    case 'always_on':
      return { sampler: new AlwaysOnSampler(), name };
    case 'always_off':
      return { sampler: new AlwaysOffSampler(), name };
    case 'parentbased_always_on':
      return { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), name };
    case 'parentbased_always_off':
      return { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }), name };
    case 'traceidratio': {
      const r = ratio();
      return { sampler: new TraceIdRatioBasedSampler(r), name: `${name}(${r})` };
    }
    case 'parentbased_traceidratio': {
      const r = ratio();
      return { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(r) }), name: `${name}(${r})` };
    }
    default:
      return { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), name: 'parentbased_always_on' };
  }
}
