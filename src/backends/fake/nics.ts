// The NICs of the simulated hosts: deterministic MACs and known facts, so tests can assert on
// every value the inventory carries (and the master's mapping of each onto PIF_metrics).
import { createHash } from 'node:crypto';
import type { Nic } from '../contract.js';

/** Deterministic locally administered MAC for NIC `index` of host `seed`. */
export function fakeMac(seed: string, index: number): string {
  const h = createHash('sha256').update(`${seed}/${index}`).digest();
  const b = [0x02, h[0], h[1], h[2], h[3], index & 0xff];
  return b.map((x) => x!.toString(16).padStart(2, '0')).join(':');
}

/** The facts a fake NIC reports unless a test sets others (FakeHost.setNic). */
export const FAKE_NIC_FACTS = {
  carrier: true, speed: 10000, duplex: 'full', vendor_id: '1af4', vendor_name: 'xcpnet', device_id: '0001',
  device_name: 'fake NIC', driver: 'fake',
} as const satisfies Partial<Nic>;

export function fakeNic(device: string, index: number, mac: string, mtu: number): Nic {
  return { device, position: index, MAC: mac, MTU: mtu, ...FAKE_NIC_FACTS, pci_bus_path: `0000:00:${String(index + 3).padStart(2, '0')}.0` };
}
