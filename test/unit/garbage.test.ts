import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { collectGarbage } from '../../src/arbiter/garbage';

/** This process's anonymous resident memory, in MB. */
const residentAnonMb = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

describe("the arbiter's garbage, collected once its workers are ready", () => {
  it('is collected and its pages given back, with nothing else allocating to prompt V8', () => {
    // Old objects, as start-up's are by the time the workers are ready: small ones, in pages of their own.
    const holder = { garbage: Array.from({ length: 200 }, () => Array.from({ length: 5000 }, (_, i) => ({ i }))) };
    collectGarbage();
    const held = residentAnonMb();
    holder.garbage = [];
    collectGarbage();
    expect(held - residentAnonMb()).toBeGreaterThan(20);
  });

  it('leaves gc() to no context made after it, as a plugin may make one', () => {
    collectGarbage();
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
