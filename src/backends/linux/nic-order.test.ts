import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assignPositions, NicOrder, parseOrder, type NicId } from './nic-order.js';

const mac = (n: number) => `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;
const nic = (name: string, n: number, pci = ''): NicId => ({ name, mac: mac(n), pci });
const pos = (present: NicId[], saved = assignPositions([], []).order) => assignPositions(present, saved);

test('first boot: positions in PCI bus order, whatever the names; NICs without a bus path after, by name', () => {
  const { positions } = pos([nic('enp3s0', 3, '0000:03:00.0'), nic('ens5', 1, '0000:00:05.0'), nic('eth10', 9), nic('eth2', 8), nic('enp1s0f0', 2, '0000:01:00.0')]);
  assert.deepEqual(Object.fromEntries(positions), { ens5: 0, enp1s0f0: 1, enp3s0: 2, eth2: 3, eth10: 4 });
});

test('later boots: a renamed NIC keeps its position; a new NIC gets the next; a missing one keeps its slot', () => {
  const first = pos([nic('eth0', 1, '0000:00:03.0'), nic('eth1', 2, '0000:00:04.0'), nic('eth2', 3, '0000:00:05.0')]);
  // Renamed by a new kernel's predictable names; eth1's card is out; a new card appears.
  const second = pos([nic('ens3', 1, '0000:00:03.0'), nic('ens5', 3, '0000:00:05.0'), nic('ens6', 4, '0000:00:06.0')], first.order);
  assert.deepEqual(Object.fromEntries(second.positions), { ens3: 0, ens5: 2, ens6: 3 });
  // The card comes back: its old position, not a new one.
  const third = pos([nic('ens3', 1, '0000:00:03.0'), nic('ens4', 2, '0000:00:04.0'), nic('ens5', 3, '0000:00:05.0'), nic('ens6', 4, '0000:00:06.0')], second.order);
  assert.deepEqual(Object.fromEntries(third.positions), { ens3: 0, ens4: 1, ens5: 2, ens6: 3 });
  // Names swapped between two cards: the positions follow the cards (their MACs).
  const swapped = pos([nic('ens4', 1, '0000:00:03.0'), nic('ens3', 2, '0000:00:04.0')], third.order);
  assert.deepEqual(Object.fromEntries(swapped.positions), { ens4: 0, ens3: 1 });
});

test('a card replaced in the same slot (new MAC, same bus path) takes its predecessor position', () => {
  const first = pos([nic('eth0', 1, '0000:00:03.0'), nic('eth1', 2, '0000:00:04.0')]);
  const second = pos([nic('eth0', 1, '0000:00:03.0'), nic('eth1', 7, '0000:00:04.0')], first.order);
  assert.deepEqual(Object.fromEntries(second.positions), { eth0: 0, eth1: 1 });
  assert.equal(second.order.length, 2);
});

test('the order file: saved atomically when it changes, read back; a damaged file is an empty order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-order-'));
  try {
    const file = join(dir, 'nic-order.json');
    const o = new NicOrder(file);
    assert.deepEqual(Object.fromEntries(o.positions([nic('eth1', 2), nic('eth0', 1)])), { eth0: 0, eth1: 1 });
    const text = readFileSync(file, 'utf8');
    assert.deepEqual(Object.fromEntries(new NicOrder(file).positions([nic('ens1', 2)])), { ens1: 1 }, 'after a restart and a rename');
    assert.notEqual(readFileSync(file, 'utf8'), text);
    assert.deepEqual(parseOrder('{"not":"a list"}'), []);
    assert.deepEqual(parseOrder(JSON.stringify([{ position: 0, mac: mac(1), name: 'eth0 x', pci: '../x' }, { position: 0, mac: mac(2) }, { position: -1, mac: mac(3) }])),
      [{ position: 0, mac: mac(1), name: '', pci: '' }]);
    writeFileSync(file, 'garbage');
    assert.deepEqual(Object.fromEntries(new NicOrder(file).positions([nic('eth0', 1)])), { eth0: 0 });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
