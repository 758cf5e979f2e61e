// Stable NIC positions, in the spirit of xcp-networkd's network device ordering: a NIC's position
// (the N of `xenbr<N>`, the pool-wide network it joins) is decided once and kept, whatever the
// kernel names it (eth0, ens5, enp1s0f0) and however names change across reboots. Keyed by MAC,
// then by PCI bus path (a NIC replaced in the same slot takes its predecessor's position).
// New NICs take the next positions, in PCI bus order (then by name, for NICs without a bus path,
// such as the lab's veths: eth2 before eth10). A NIC that is gone keeps its position reserved,
// so that a missing card never shifts the others. The order is persisted in the agent's state
// directory. Planning is pure.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIfName, isMac } from '../../common/net-syntax.js';

export interface NicId { name: string; mac: string; pci: string }
export interface NicSlot extends NicId { position: number }

const byNatural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Pure: positions for the NICs present now, given the saved order. Returns the order to save
 * (every slot ever given, present or not) and the position of each present NIC by name.
 */
export function assignPositions(present: NicId[], saved: NicSlot[]): { order: NicSlot[]; positions: Map<string, number> } {
  const order: NicSlot[] = saved.map((s) => ({ ...s }));
  const positions = new Map<string, number>();
  const taken = new Set<NicSlot>();
  const take = (n: NicId, slot: NicSlot) => {
    taken.add(slot);
    Object.assign(slot, { name: n.name, mac: n.mac, pci: n.pci || slot.pci });
    positions.set(n.name, slot.position);
  };
  const rest: NicId[] = [];
  for (const n of present) {
    const slot = order.find((s) => !taken.has(s) && s.mac === n.mac);
    if (slot) take(n, slot); else rest.push(n);
  }
  const fresh: NicId[] = [];
  for (const n of rest) {
    // Same slot, a card whose MAC is not present any more: its replacement.
    const slot = n.pci ? order.find((s) => !taken.has(s) && s.pci === n.pci && !present.some((p) => p.mac === s.mac)) : undefined;
    if (slot) take(n, slot); else fresh.push(n);
  }
  fresh.sort((a, b) => (a.pci && b.pci ? byNatural(a.pci, b.pci) : a.pci ? -1 : b.pci ? 1 : 0) || byNatural(a.name, b.name) || a.mac.localeCompare(b.mac));
  let next = order.reduce((m, s) => Math.max(m, s.position + 1), 0);
  for (const n of fresh) {
    const slot: NicSlot = { ...n, position: next++ };
    order.push(slot);
    take(n, slot);
  }
  // A name now used by a present NIC is not also kept on an absent one's slot.
  for (const s of order) if (!taken.has(s) && positions.has(s.name)) s.name = '';
  order.sort((a, b) => a.position - b.position);
  return { order, positions };
}

/** Pure: a saved order from JSON, every entry checked (a bad file is an empty order). */
export function parseOrder(text: string): NicSlot[] {
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { return []; }
  if (!Array.isArray(raw)) return [];
  const out: NicSlot[] = [];
  for (const r of raw as Record<string, unknown>[]) {
    const position = r?.position;
    const mac = typeof r?.mac === 'string' ? r.mac.toLowerCase() : '';
    if (!Number.isInteger(position) || (position as number) < 0 || (position as number) > 9999 || !isMac(mac)) continue;
    if (out.some((o) => o.position === position || o.mac === mac)) continue;
    const name = typeof r.name === 'string' && isIfName(r.name) ? r.name : '';
    const pci = typeof r.pci === 'string' && /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(r.pci) ? r.pci : '';
    out.push({ position: position as number, mac, name, pci });
  }
  return out;
}

/** The persisted order of one host (`nic-order.json` in the agent's state directory). */
export class NicOrder {
  private saved: NicSlot[];
  private text: string;

  constructor(private readonly file: string) {
    this.text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    this.saved = parseOrder(this.text);
  }

  /** Positions of the NICs present now; the order is saved (atomically) when it changed. */
  positions(present: NicId[]): Map<string, number> {
    const { order, positions } = assignPositions(present.filter((n) => isMac(n.mac)), this.saved);
    const text = JSON.stringify(order, null, 1) + '\n';
    if (text !== this.text) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      writeFileSync(`${this.file}.tmp`, text, { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
      this.text = text;
      this.saved = order;
    }
    return positions;
  }
}
