import { expect } from 'chai';
import { ServerConfig } from '../../src/config/server-config.js';
import { ConfigError } from '../../src/config/errors.js';
import { OPTIONS, OPTION_NAMES, cliFlag, envVar } from '../../src/config/options.js';

const noEnv = { env: {} };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('ServerConfig', () => {
  it('has the documented defaults', () => {
    const c = new ServerConfig({}, noEnv);
    expect(c.lifecycleLogging).to.equal(false);
    expect(c.logFormat).to.equal('text');
    expect(c.logSlowRequestsThreshold).to.equal(5.0);
    expect(c.healthCheckPath).to.equal(undefined);
    expect(c.logLevel).to.equal('info');
    expect(c.otelEndpoint).to.equal(undefined);
    expect(c.accessLog).to.equal(true);
    expect(c.port).to.equal(8000);
  });

  it('is frozen', () => {
    const c = new ServerConfig({ lifecycleLogging: true }, noEnv);
    expect(Object.isFrozen(c)).to.equal(true);
    expect(Reflect.set(c, 'lifecycleLogging', false), 'assignment refused').to.equal(false);
    expect(c.lifecycleLogging).to.equal(true);
  });

  it('precedence: defaults < env < CLI < programmatic', () => {
    const env = { POUNCE_LOG_LEVEL: 'debug', POUNCE_PORT: '9001', POUNCE_LOG_FORMAT: 'json', POUNCE_WORKERS: '3' };
    const cli = { port: '9002', logFormat: 'text' };
    const c = new ServerConfig({ logFormat: 'json' }, { env, cli });
    expect(c.logLevel).to.equal('debug'); // env over default
    expect(c.port).to.equal(9002); // CLI over env
    expect(c.logFormat).to.equal('json'); // programmatic over CLI
    expect(c.workers).to.equal(3);
    expect(c.sources).to.include({ logLevel: 'env', port: 'cli', logFormat: 'programmatic', host: 'default' });
  });

  it('parses env values by type: booleans, seconds, integers', () => {
    const c = new ServerConfig(
      {},
      { env: { POUNCE_LIFECYCLE_LOGGING: 'true', POUNCE_ACCESS_LOG: '0', POUNCE_LOG_SLOW_REQUESTS_THRESHOLD: '2.5', POUNCE_HEALTH_CHECK_PATH: '/health' } },
    );
    expect(c.lifecycleLogging).to.equal(true);
    expect(c.accessLog).to.equal(false);
    expect(c.logSlowRequestsThreshold).to.equal(2.5);
    expect(c.healthCheckPath).to.equal('/health');
  });

  it('accepts "warning" as a spelling of warn', () => {
    expect(new ServerConfig({}, { env: { POUNCE_LOG_LEVEL: 'WARNING' } }).logLevel).to.equal('warn');
  });

  it('refuses a negative threshold, naming the option and the accepted values', () => {
    const err = configError(() => new ServerConfig({ logSlowRequestsThreshold: -1 }, noEnv));
    expect(err.message).to.equal('invalid value -1 for logSlowRequestsThreshold — expected a number of seconds >= 0.001');
    expect(err.option).to.equal('logSlowRequestsThreshold');
  });

  it('refuses a health path without a leading slash', () => {
    const err = configError(() => new ServerConfig({}, { env: { POUNCE_HEALTH_CHECK_PATH: 'health' } }));
    expect(err.message).to.equal(`invalid value "health" for POUNCE_HEALTH_CHECK_PATH — expected a URL path starting with '/'`);
  });

  it('refuses an unknown log format with the list of formats', () => {
    const err = configError(() => new ServerConfig({}, { cli: { logFormat: 'xml' } }));
    expect(err.message).to.equal('invalid value "xml" for --log-format — expected text, json');
  });

  it('refuses the seed snake_case names with a did-you-mean', () => {
    const err = configError(() => new ServerConfig({ lifecycle_logging: true } as never, noEnv));
    expect(err.message).to.equal('unknown option "lifecycle_logging" in ServerConfig — did you mean lifecycleLogging?');
    expect(configError(() => new ServerConfig({ log_slow_requests_threshold: 2 } as never, noEnv)).message).to.include(
      'did you mean logSlowRequestsThreshold?',
    );
  });

  it('refuses a typo with a did-you-mean', () => {
    expect(configError(() => new ServerConfig({ lifecycleLoging: true } as never, noEnv)).message).to.include('did you mean lifecycleLogging?');
    expect(configError(() => new ServerConfig({}, { env: { POUNCE_LIFECYCLE_LOGGIN: 'true' } })).message).to.equal(
      'unknown environment variable POUNCE_LIFECYCLE_LOGGIN — did you mean POUNCE_LIFECYCLE_LOGGING?',
    );
  });

  it('refuses a request timeout shorter than the header timeout', () => {
    const err = configError(() => new ServerConfig({ headerTimeout: 10, requestTimeout: 5 }, noEnv));
    expect(err.message).to.include('requestTimeout').and.include('headerTimeout');
  });

  it('refuses non-numbers, fractions for integers, out-of-range ports, non-http endpoints', () => {
    expect(configError(() => new ServerConfig({}, { cli: { port: 'eighty' } })).message).to.equal(
      'invalid value "eighty" for --port — expected a whole number from 0 to 65535 (0 = an ephemeral port chosen by the OS)',
    );
    expect(configError(() => new ServerConfig({ workers: 1.5 }, noEnv)).message).to.include('expected a whole number');
    expect(configError(() => new ServerConfig({ port: 70000 }, noEnv)).message).to.include('from 0 to 65535');
    expect(configError(() => new ServerConfig({ otelEndpoint: 'collector:4318' }, noEnv)).message).to.include('an http:// or https:// URL');
    expect(configError(() => new ServerConfig({ accessLog: 'maybe' as never }, noEnv)).message).to.include('expected true or false');
  });

  it('derives CLI flags and env names from the option table', () => {
    expect(cliFlag('logSlowRequestsThreshold')).to.equal('--log-slow-requests-threshold');
    expect(envVar('logSlowRequestsThreshold')).to.equal('POUNCE_LOG_SLOW_REQUESTS_THRESHOLD');
    expect(envVar('otelEndpoint')).to.equal('POUNCE_OTEL_ENDPOINT');
    for (const name of OPTION_NAMES) expect(OPTIONS[name].description.length, name).to.be.greaterThan(10);
  });
});
