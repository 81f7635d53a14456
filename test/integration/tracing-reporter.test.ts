import { expect } from 'chai';
import { pino } from 'pino';
import { ExportReporter } from '../../src/observability/tracing/export-reporter.js';
import { PinoDiagLogger } from '../../src/observability/tracing/diag.js';
import { sleep } from '../helpers/pounce.js';

/** A pino logger whose lines land in an array. */
function capture(level = 'info') {
  const lines: Array<Record<string, any>> = [];
  const logger = pino({ level, base: null, messageKey: 'msg', formatters: { level: (label) => ({ level: label }) } }, {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, any>),
  });
  return { logger, lines };
}

describe('tracing: export trouble is reported once per interval', function () {
  it('first failure at once; later ones counted into one line at the end of the interval; a quiet interval closes the window', async () => {
    const { logger, lines } = capture();
    const reporter = new ExportReporter(logger, 'http://collector:4318/v1/traces', 150);
    const failed = () => lines.filter((l) => l.event === 'TraceExportFailed');

    reporter.exportFailed(new Error('connect ECONNREFUSED 10.0.0.1:4318'));
    expect(failed()).to.have.length(1);
    expect(failed()[0]).to.include({ level: 'warn', failed_exports: 1, error: 'connect ECONNREFUSED 10.0.0.1:4318' });

    for (let i = 0; i < 20; i++) reporter.exportFailed(new Error('connect ECONNREFUSED 10.0.0.1:4318'));
    expect(failed(), 'nothing more within the interval').to.have.length(1);

    await sleep(200);
    expect(failed()).to.have.length(2);
    expect(failed()[1]).to.include({ failed_exports: 20 });

    // An interval without trouble: no line, and the window closes...
    await sleep(350);
    expect(failed()).to.have.length(2);
    // ...so the next failure is reported at once again.
    reporter.exportFailed(new Error('timeout'));
    expect(failed()).to.have.length(3);
    reporter.close();
  });

  it('close() reports what is left and stops the timer; nothing after close', () => {
    const { logger, lines } = capture();
    const reporter = new ExportReporter(logger, 'http://collector:4318/v1/traces', 60_000);
    reporter.exportFailed(new Error('boom'));
    reporter.exportFailed(new Error('boom again'));
    reporter.close();
    expect(lines.map((l) => l.event)).to.deep.equal(['TraceExportFailed', 'TraceExportFailed']);
    expect(lines[1]).to.include({ failed_exports: 1, error: 'boom again' });
    reporter.exportFailed(new Error('after close'));
    expect(lines).to.have.length(2);
  });

  it('OpenTelemetry diagnostics: JSON lines, the same message at most once per interval, with the repeat count', async () => {
    const { logger, lines } = capture();
    const diag = new PinoDiagLogger(logger, 150);
    for (let i = 0; i < 10; i++) diag.warn(`Dropped ${i} spans because maxQueueSize reached`);
    diag.error('OTEL_TRACES_SAMPLER value "bogus" invalid');
    diag.info('not at info: diagnostics below warn are debug');
    expect(lines.map((l) => l.msg)).to.deep.equal([
      'opentelemetry: Dropped 0 spans because maxQueueSize reached',
      'opentelemetry: OTEL_TRACES_SAMPLER value "bogus" invalid',
    ]);
    expect(lines.every((l) => l.level === 'warn' && l.event === 'OtelDiagnostic')).to.equal(true);
    await sleep(200);
    diag.warn('Dropped 99 spans because maxQueueSize reached');
    expect(lines).to.have.length(3);
    expect(lines[2]).to.include({ repeated: 9 });
  });
});
