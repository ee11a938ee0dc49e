// The daemon's modules call only down (docs/architecture.md): the graph of
// `#include "x.h"` between src/berthd's modules has no cycle. A cycle is
// named module by module so the include that closed it is easy to find.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { SOURCE_DIR } from '../lib/berthd.mjs';

const root = path.join(SOURCE_DIR, 'src', 'berthd');

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.[ch]$/.test(e.name) ? [p] : [];
  });
}

test('the module include graph of src/berthd is a DAG', () => {
  const graph = new Map();
  for (const file of sources(root)) {
    const mod = path.basename(file).replace(/\.[ch]$/, '');
    const deps = graph.get(mod) ?? new Set();
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/^#include "([a-z_]+)\.h"/gm)) {
      if (m[1] !== mod) deps.add(m[1]);
    }
    graph.set(mod, deps);
  }
  assert.ok(graph.has('ic') && graph.has('api'), `modules found: ${[...graph.keys()]}`);
  const state = new Map();
  const stack = [];
  const cycles = [];
  const visit = (u) => {
    state.set(u, 1);
    stack.push(u);
    for (const v of [...(graph.get(u) ?? [])].sort()) {
      if (!graph.has(v)) continue;
      if (state.get(v) === 1) cycles.push([...stack.slice(stack.indexOf(v)), v].join(' -> '));
      else if (!state.has(v)) visit(v);
    }
    stack.pop();
    state.set(u, 2);
  };
  for (const m of [...graph.keys()].sort()) if (!state.has(m)) visit(m);
  assert.deepEqual(cycles, [], `include cycles: ${cycles.join('; ')}`);
});
