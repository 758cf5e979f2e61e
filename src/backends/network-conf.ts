// A host's network backend, chosen as on XCP: one word in a file (xcp-networkd reads
// /etc/xcp/network.conf; `xe-switch-network-backend` writes it), `openvswitch` (or the older
// `vswitch`) or `bridge`. A missing file or another word means Open vSwitch, as xcp-networkd
// falls back. The agent reads it when it starts; it reports the backend it runs, which the
// master records as host.software_version:network_backend.
import { readFileSync, writeFileSync } from 'node:fs';

export type NetworkBackend = 'openvswitch' | 'bridge';

/** Pure: the backend a network.conf text names (undefined: not a backend name). */
export function parseNetworkConf(text: string): NetworkBackend | undefined {
  const w = text.trim();
  return w === 'openvswitch' || w === 'vswitch' ? 'openvswitch' : w === 'bridge' ? 'bridge' : undefined;
}

export function readNetworkConf(path: string, warn: (m: string) => void = () => {}): NetworkBackend {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return 'openvswitch'; }
  const b = parseNetworkConf(text);
  if (!b) warn(`${path}: unknown network backend ${JSON.stringify(text.trim().slice(0, 40))}; using openvswitch`);
  return b ?? 'openvswitch';
}

export function writeNetworkConf(path: string, backend: NetworkBackend): void {
  writeFileSync(path, `${backend}\n`, { mode: 0o644 });
}
