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

/** Builds a test's network namespaces (build), or says why it cannot run
 * here: not root, or ip netns refused (then teardown undoes what was made).
 * Returns null when it can. */
export function netnsOrSkip(build, teardown) {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'needs root for ip netns / veth / bridge';
  }
  try {
    build();
    return null;
  } catch (e) {
    teardown();
    return `cannot build network namespaces here: ${(e.stderr || e.message || '').toString().trim()}`;
  }
}
