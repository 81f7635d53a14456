import { expect } from 'chai';
import { runPounce, startPounce, FIXTURES } from '../helpers/pounce.js';
import { OPTION_NAMES, cliFlag } from '../../src/config/options.js';

const fixture = (name: string) => `${FIXTURES}/${name}`;

/** Start-up failures: exit status 2 and exactly one line that says what is wrong. */
async function expectStartError(args: string[], pattern: RegExp, env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await runPounce(args, env);
  expect(code, stderr).to.equal(2);
  const lines = (stdout + stderr).trim().split('\n');
  expect(lines, 'exactly one line').to.have.length(1);
  expect(lines[0]).to.match(pattern);
  return lines[0]!;
}

describe('command line and app loading errors', () => {
  it('a missing file', async () => {
    await expectStartError(['./nope.js'], /^pounce: cannot load app \.\/nope\.js: no such file .*nope\.js$/);
  });

  it('a missing export lists what the module does export', async () => {
    await expectStartError([`${fixture('fetch-function.js')}:nothere`], /has no export "nothere" \(it exports: default, named\)$/);
  });

  it('something that is not a handler', async () => {
    await expectStartError([fixture('not-an-app.js')], /is not an app: expected a fetch handler .* or a Node listener \(req, res\); got number$/);
  });

  it('a module that throws on import', async () => {
    await expectStartError([fixture('throws-on-import.js')], /importing it threw Error: database url missing$/);
  });

  it('an ambiguous function names --interface, and --interface settles it', async () => {
    await expectStartError([fixture('ambiguous.js')], /pass --interface fetch or --interface node$/);
    const pounce = await startPounce({ app: 'ambiguous.js', args: ['--interface', 'fetch'] });
    expect(await (await fetch(pounce.url)).text()).to.equal('?');
    await pounce.stop();
  });

  it('a bad option value names the flag and the accepted values', async () => {
    await expectStartError([fixture('node-hello.js'), '--log-slow-requests-threshold', '-2'], /^pounce: invalid value "-2" for --log-slow-requests-threshold — expected a number of seconds >= 0\.001$/);
    await expectStartError([fixture('node-hello.js'), '--log-level', 'loud'], /for --log-level — expected debug, info, warn, error \(also warning\)$/);
    await expectStartError([fixture('node-hello.js')], /for POUNCE_HEALTH_CHECK_PATH — expected a URL path starting with '\/'$/, { POUNCE_HEALTH_CHECK_PATH: 'health' });
  });

  it('an unknown flag gets a did-you-mean', async () => {
    await expectStartError([fixture('node-hello.js'), '--lifecycle-loging'], /^pounce: unknown option --lifecycle-loging — did you mean --lifecycle-logging\?/);
  });

  it('no app at all', async () => {
    await expectStartError([], /^pounce: no app given/);
  });

  it('in json mode the error line is JSON too', async () => {
    const line = await expectStartError(['./nope.js', '--log-format', 'json'], /^\{/);
    expect(JSON.parse(line)).to.include({ level: 'error', logger: 'pounce.server', event: 'StartupFailed' });
    const early = await expectStartError(['./nope.js', '--port', 'x'], /^\{/, { POUNCE_LOG_FORMAT: 'json' });
    expect(JSON.parse(early).msg).to.include('--port');
  });

  it('--help lists every option of the table, with its env var', async () => {
    const { code, stdout } = await runPounce(['--help']);
    expect(code).to.equal(0);
    for (const name of OPTION_NAMES) expect(stdout, name).to.include(cliFlag(name));
    expect(stdout).to.include('POUNCE_LOG_SLOW_REQUESTS_THRESHOLD');
  });
});

describe('apps of every style', () => {
  it('serves an Express app, with currentRequest() ids in its own log lines', async () => {
    const pounce = await startPounce({ app: 'express-app.js' });
    expect(await (await fetch(`${pounce.url}/`)).text()).to.equal('hello from express');
    const user = (await (await fetch(`${pounce.url}/users/7`)).json()) as { id: string; connection_id: number };
    expect(user.id).to.equal('7');
    const appLine = await pounce.waitFor((l) => l.msg === 'looking up user');
    expect(appLine).to.include({ logger: 'pounce.app', user: '7', connection_id: user.connection_id, worker_id: 1 });
    const posted = await fetch(`${pounce.url}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(await posted.json()).to.deep.equal({ got: { a: 1 } });
    await pounce.stop();
  });

  it('an app that imports pounce reads currentRequest() after body parsing and timers, even with every log off', async () => {
    const pounce = await startPounce({ app: 'express-app.js', args: ['--no-access-log'] });
    const user = (await (await fetch(`${pounce.url}/users/7`)).json()) as { connection_id: number };
    expect(user.connection_id).to.be.a('number');
    const res = await fetch(`${pounce.url}/whoami`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"b":2}' });
    const who = (await res.json()) as { got: unknown; in_route: number; after_timer: number };
    expect(who.got).to.deep.equal({ b: 2 });
    expect(who.in_route).to.be.a('number');
    expect(who.after_timer).to.equal(who.in_route);
    // The request context is on for it (AsyncLocalStorage's hooks are enabled).
    expect(await (await fetch(`${pounce.url}/async-hooks`)).text()).to.equal('on');
    await pounce.stop();
  });

  it('serves a Hono app, running its startup export', async () => {
    const pounce = await startPounce({ app: 'hono-app.js' });
    expect(await (await fetch(`${pounce.url}/`)).text()).to.equal('hello from hono');
    expect(await (await fetch(`${pounce.url}/users/3`)).json()).to.include({ id: '3' });
    const echoed = await fetch(`${pounce.url}/echo`, { method: 'POST', body: 'ping' });
    expect(await echoed.json()).to.deep.equal({ body: 'ping' });
    const boom = await fetch(`${pounce.url}/boom`);
    expect(boom.status).to.equal(500);
    expect(await boom.text()).to.equal('Internal Server Error\n');
    await pounce.stop();
  });

  it('serves a one-argument function and a named export', async () => {
    const fn = await startPounce({ app: 'fetch-function.js' });
    expect(await (await fetch(`${fn.url}/x`)).text()).to.equal('function fetch /x');
    await fn.stop();
    const named = await startPounce({ app: 'fetch-function.js:named' });
    expect(await (await fetch(named.url)).text()).to.equal('named export');
    await named.stop();
  });

  it('runs startup before serving and shutdown on SIGTERM', async () => {
    const pounce = await startPounce({ app: 'lifespan.js' });
    expect(await (await fetch(pounce.url)).text()).to.equal('started');
    const { code } = await pounce.stop();
    expect(code).to.equal(0);
    expect(pounce.stderr).to.include('STARTUP ran').and.include('SHUTDOWN ran');
  });
});
