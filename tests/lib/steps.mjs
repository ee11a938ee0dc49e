// Tests that are one scenario, in order: each step skips when the file
// cannot run here (skipped() gives the reason) or when an earlier step
// failed, and a failing step's message gets context() (logs worth reading).
import { test } from 'node:test';

export function scenario({ skipped = () => null, context = () => '' } = {}) {
  let broken = null;
  return function step(name, timeout, fn) {
    test(name, { timeout }, async (t) => {
      const why = skipped();
      if (why) { t.skip(why); return; }
      if (broken) { t.skip(`an earlier step failed: ${broken}`); return; }
      try {
        await fn(t);
      } catch (e) {
        broken = name;
        e.message += `\n${context()}`;
        throw e;
      }
    });
  };
}
