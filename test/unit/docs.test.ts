import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT } from '../helpers/pounce.js';
import { OPTION_NAMES, cliFlag, envVar } from '../../src/config/options.js';

describe('README', () => {
  it('its option reference is the one generated from the option table (npm run docs)', () => {
    // Exits 1 when README.md differs from what the table generates.
    execFileSync(process.execPath, [resolve(ROOT, 'dist/tools/gen-docs.js'), '--check'], { stdio: 'pipe' });
    const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
    for (const name of OPTION_NAMES) {
      expect(readme).to.include(`\`${envVar(name)}\``);
      expect(readme).to.include(cliFlag(name));
    }
  });

  it('its first screen gives the two commands, and they exist', () => {
    const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
    const firstScreen = readme.split('\n').slice(0, 20).join('\n');
    expect(firstScreen).to.include('npm ci && npm start').and.include('npm ci && npm test');
    const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).to.include('examples/hello.js');
    expect(pkg.scripts.test).to.include('mocha');
  });
});
