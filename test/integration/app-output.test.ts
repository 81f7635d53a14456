import { expect } from 'chai';
import { startPounce } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

describe("the app's own stdout and console output", () => {
  it('json format: every stdout line is JSON; console.* become pounce.app lines at their level, with the ids inside a request, in order', async () => {
    const pounce = await startPounce({ app: 'console-app.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    expect((await fetch(`${pounce.url}/console`)).status).to.equal(200);
    await fetch(`${pounce.url}/partial`);
    await fetch(`${pounce.url}/finish`);
    await fetch(`${pounce.url}/later`);
    await pounce.waitFor((l) => l.msg === 'after the response');
    await fetch(`${pounce.url}/tail`);
    await pounce.stop();

    expect(pounce.nonJson, 'every stdout line is JSON').to.deep.equal([]);
    expect(pounce.stdoutText.endsWith('\n')).to.equal(true);
    const app = pounce.lines.filter((l) => l.logger === 'pounce.app');
    const byMsg = (msg: string) => app.find((l) => l.msg === msg)!;

    // Outside a request: no connection id; a write cut in two is one line.
    expect(byMsg('loading the app')).to.include({ level: 'info', worker_id: 1 }).and.not.have.property('connection_id');
    expect(byMsg('partial at import then finished')).to.include({ level: 'info' });

    // Inside a request: levels as console means them, and the request's connection id.
    const completed = pounce.events('ResponseCompleted').find((l) => l.path === '/console')!;
    const id = completed.connection_id;
    expect(byMsg("log inside { n: 1 }")).to.include({ level: 'info', connection_id: id });
    expect(byMsg('error inside')).to.include({ level: 'error', connection_id: id });
    expect(byMsg('warn inside')).to.include({ level: 'warn', connection_id: id });
    expect(byMsg('info inside')).to.include({ level: 'info', connection_id: id });
    expect(byMsg('debug inside')).to.include({ level: 'debug', connection_id: id });

    // In order with pounce's own lines: after the request's RequestStarted, before its ResponseCompleted.
    const index = (pred: (l: (typeof pounce.lines)[number]) => boolean) => pounce.lines.findIndex(pred);
    const started = index((l) => l.event === 'RequestStarted' && l.path === '/console');
    const done = index((l) => l.event === 'ResponseCompleted' && l.path === '/console');
    const consoleLines = ['log inside { n: 1 }', 'error inside', 'warn inside', 'info inside', 'debug inside'].map((m) => index((l) => l.msg === m));
    expect(consoleLines).to.deep.equal([...consoleLines].sort((a, b) => a - b));
    expect(consoleLines[0]).to.be.greaterThan(started);
    expect(consoleLines.at(-1)).to.be.lessThan(done);

    // A write without a newline waits for its line: it corrupts no pounce line in between.
    expect(byMsg('no newline yet ... finished')).to.include({ level: 'info' });
    expect(byMsg('and a second line')).to.include({ level: 'info' });
    // The tail with no newline at all is written at exit.
    expect(byMsg('a tail written just before exit, no newline')).to.include({ level: 'info' });
    expectValidLifecycleLines(pounce.lines);
  });

  it('json format: log level applies to console lines (console.debug dropped at info)', async () => {
    const pounce = await startPounce({ app: 'console-app.js' });
    await fetch(`${pounce.url}/console`);
    await pounce.stop();
    expect(pounce.nonJson).to.deep.equal([]);
    const msgs = pounce.lines.filter((l) => l.logger === 'pounce.app').map((l) => l.msg);
    expect(msgs).to.include('error inside').and.not.include('debug inside');
  });

  it('text format: app output passes through as whole lines, never glued to a pounce line', async () => {
    const pounce = await startPounce({ app: 'console-app.js', rawFormat: true, args: ['--lifecycle-logging', '--log-level', 'debug'] });
    await fetch(`${pounce.url}/partial`);
    await fetch(`${pounce.url}/finish`);
    await pounce.stop();
    const lines = pounce.stdoutText.split('\n');
    expect(lines).to.include('loading the app');
    expect(lines).to.include('partial at import then finished');
    expect(lines).to.include('no newline yet ... finished');
    expect(lines).to.include('and a second line');
    // Every other line is a whole pounce line.
    const others = lines.filter((l) => l !== '' && !/^(loading the app|partial at import then finished|no newline yet \.\.\. finished|and a second line)$/.test(l));
    for (const l of others) expect(l).to.match(/^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) pounce\./);
    // console.error stays on stderr in text format.
    expect(pounce.stderr).to.equal('');
  });
});
