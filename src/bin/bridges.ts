// `xcpnet bridges`: each host's bridges in the layout of `brctl show` (seed 003), from what
// the hosts' agents report — the same output whatever the backend.

export interface BridgeRow { name: string; id: string; stp: boolean; interfaces: string[] }

/** brctl's bridge id: priority 8000, then the bridge address as 12 hex digits. */
export function bridgeId(id: string): string {
  if (/^[0-9a-f]{4}\.[0-9a-f]{12}$/.test(id)) return id; // already one (the agent knew the bridge's MAC)
  const hex = id.toLowerCase().replace(/[^0-9a-f]/g, '');
  return `8000.${hex.slice(0, 12).padEnd(12, '0')}`;
}

/** The table `brctl show` prints: tab-separated, extra interfaces on their own lines. */
export function formatBrctl(rows: BridgeRow[]): string {
  const out = ['bridge name\tbridge id\t\tSTP enabled\tinterfaces'];
  for (const b of rows) {
    const [first = '', ...rest] = b.interfaces;
    out.push(`${b.name}\t\t${bridgeId(b.id)}\t${b.stp ? 'yes' : 'no'}\t\t${first}`);
    for (const i of rest) out.push(`\t\t\t\t\t\t\t${i}`);
  }
  return out.join('\n') + '\n';
}
