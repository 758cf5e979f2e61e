import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TUNNEL_KEY, TunnelKeyBook, planTunnelKeys } from './controller.js';

/** A small deterministic pseudo-random sequence (the same run every time). */
function rng(seed: number): () => number {
  let x = seed;
  return () => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x / 0x80000000; };
}

test('the key book plans, change by change, exactly what planTunnelKeys plans over the whole pool', () => {
  const next = rng(16);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const nets = Array.from({ length: 12 }, (_, i) => `OpaqueRef:n${String(i).padStart(2, '0')}`);
  // Key values as they might be found: valid, duplicated, junk, out of range, none.
  const values = ['1', '2', '3', '5', '9', '0', '01', 'x', String(MAX_TUNNEL_KEY + 1), undefined];
  const keys = new Map<string, string | undefined>();
  const needs = new Map<string, number>();
  const book = new TunnelKeyBook();
  for (let step = 0; step < 3000; step++) {
    const net = pick(nets);
    const r = next();
    if (r < 0.35) { const v = pick(values); keys.set(net, v); book.setKey(net, v); }
    else if (r < 0.45) { keys.delete(net); book.setKey(net, undefined); } // the network is gone
    else if (r < 0.7) { needs.set(net, (needs.get(net) ?? 0) + 1); book.need(net, 1); }
    else if (r < 0.85) { if (needs.get(net)) { needs.set(net, needs.get(net)! - 1); book.need(net, -1); } }
    const needy = [...needs].filter(([, n]) => n > 0).map(([n]) => n);
    const expected = planTunnelKeys(keys, needy);
    assert.deepEqual([...book.plan()], [...expected], `step ${step}`);
    // Sometimes the controller writes the plan, as it does after each pass.
    if (r >= 0.85) for (const [n, k] of expected) { keys.set(n, k); book.setKey(n, k); }
  }
});
