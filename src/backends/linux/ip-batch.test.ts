// The long-lived `ip -force -batch` helper: asked again and again for links that do not exist
// (each adds an error line to its stderr), it keeps only a bounded tail of that stderr.
// Read-only queries in this process's namespace; the helper is ours and closed at the end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IpBatch, STDERR_KEPT } from './ip-batch.js';

test('IpBatch: a vanished link answers nothing and the helper keeps only the last STDERR_KEPT characters of its stderr', async () => {
  const batch = new IpBatch(undefined, 15000, true);
  try {
    const gone = Array.from({ length: 200 }, (_, i) => `addr show dev xcpnetgone${i}`);
    const endsAtLo = (ls: string[]) => { const i = ls.findIndex((l) => l.includes('"ifname":"lo"')); return i >= 0 ? i + 1 : undefined; };
    // stderr arrives apart from the answers: rounds go on until it has filled the kept part (at most 20, ~160 KB).
    for (let round = 0; round < 20 && batch.stderrHeld() < STDERR_KEPT; round++) {
      const lines = await batch.runUntil([...gone, 'addr show dev lo'], endsAtLo);
      assert.equal(lines.length, 1, 'only the loopback answers');
    }
    assert.equal(batch.stderrHeld(), STDERR_KEPT);
  } finally { batch.close(); }
});
