import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeLog, type Change, type ChangeKind } from './change-log.js';

test('since() coalesces each object\'s changes after a token by its lifetime, for every token the log covers', () => {
  let x = 9;
  const next = () => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x / 0x80000000; };
  const size = 150;
  const log = new ChangeLog(size, 0);
  // The model: every change, and each object's creation and deletion generation.
  const history: Array<{ gen: number; ref: string; kind: ChangeKind }> = [];
  const born = new Map<string, number>(), died = new Map<string, number>();
  const live: string[] = [];
  let gen = 0, n = 0;
  for (let step = 0; step < 600; step++) {
    gen++;
    const r = next();
    // One commit may write several objects; a few objects exist from "before the process".
    for (let k = 0; k < 1 + Math.floor(next() * 3); k++) {
      let ref: string, kind: ChangeKind;
      if (live.length === 0 || r < 0.35) { ref = `o${n++}`; kind = 'add'; live.push(ref); if (n % 7 !== 0) born.set(ref, gen); else kind = 'mod'; }
      else if (r < 0.55) { ref = live.splice(Math.floor(next() * live.length), 1)[0]!; kind = 'del'; died.set(ref, gen); }
      else { ref = live[Math.floor(next() * live.length)]!; kind = 'mod'; }
      log.record(gen, ref, ref.endsWith('3') ? 'VIF' : 'network', kind);
      history.push({ gen, ref, kind });
    }
    for (const since of [gen - 1, gen - 5, gen - 40, gen - 149, Math.floor(next() * gen)]) {
      if (since < 0 || !log.covers(since)) continue;
      const expected: Change[] = [];
      const seen = new Set<string>();
      for (const h of history) {
        if (h.gen <= since || seen.has(h.ref)) continue;
        seen.add(h.ref);
        const cls = h.ref.endsWith('3') ? 'VIF' : 'network';
        if (cls === 'VIF') continue; // not accepted
        const created = born.get(h.ref), deleted = died.get(h.ref);
        const after = created !== undefined && created > since;
        if (deleted !== undefined && deleted > since) { if (!after) expected.push({ ref: h.ref, cls, op: 'del' }); } else expected.push({ ref: h.ref, cls, op: after ? 'add' : 'mod' });
      }
      assert.deepEqual(log.since(since, (cls) => cls === 'network'), expected, `gen ${gen} since ${since}`);
    }
  }
  assert.equal(log.covers(gen - size - 5), false);
});
