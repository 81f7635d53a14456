import { stopAll } from './pounce.js';

/** Root hooks: no pounce process outlives its test file. */
export const mochaHooks = {
  async afterAll() {
    await stopAll();
  },
};
