import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import { ROOT, type LogLine } from './pounce.js';

const schema = JSON.parse(readFileSync(resolve(ROOT, 'schema/lifecycle-event.schema.json'), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
export const validateLifecycleEvent = ajv.compile(schema);

/** Every lifecycle line validates against the published schema. */
export function expectValidLifecycleLines(lines: LogLine[]): void {
  const lifecycle = lines.filter((l) => l.logger === 'pounce.lifecycle');
  expect(lifecycle.length, 'some lifecycle lines').to.be.greaterThan(0);
  for (const line of lifecycle) {
    const ok = validateLifecycleEvent(line);
    expect(ok, `${JSON.stringify(line)} → ${ajv.errorsText(validateLifecycleEvent.errors)}`).to.equal(true);
  }
}
