// An in-memory northbound database for the operations planNb makes: the unit tests check a
// plan's effect with it, and bench/sdn counts passes on it. Pure.
import type { Op } from '../backends/ovsdb/ops.js';
import type { CurrentNb, NbRow } from './ovn-nb.js';

/** Applies planNb's operations to an in-memory northbound the way ovsdb-server would (only the operations planNb makes). */
export function applyNbPlan(cur: CurrentNb, planOps: Op[]): CurrentNb {
  const switches = cur.switches.map((r) => ({ ...r }));
  let ports = cur.ports.map((r) => ({ ...r }));
  const named = new Map<string, string>();
  let seq = 0;
  const fresh = () => `00000000-0000-0000-0000-${String(++seq).padStart(12, '0')}`;
  const target = (where: unknown): string => ((where as [string, string, [string, string]][])[0]![2][1]);
  const resolve = (v: unknown): string => (Array.isArray(v) && v[0] === 'named-uuid' ? named.get(v[1] as string)! : String(v));
  for (const op of planOps) {
    const o = op as unknown as Record<string, unknown>;
    const row = (o.row ?? {}) as Record<string, unknown>;
    if (o.op === 'insert' && o.table === 'Logical_Switch_Port') {
      const u = fresh(); named.set(o['uuid-name'] as string, u);
      ports.push({ _uuid: u, ...row } as NbRow);
    } else if (o.op === 'insert' && o.table === 'Logical_Switch') {
      switches.push({ _uuid: fresh(), ...row, ports: (row.ports as unknown[]).map(resolve) } as NbRow);
    } else if (o.op === 'delete') {
      const u = target(o.where);
      const gone = switches.find((s) => s._uuid === u);
      switches.splice(switches.indexOf(gone!), 1);
    } else if (o.op === 'update') {
      const u = target(o.where);
      const r = (o.table === 'Logical_Switch' ? switches : ports).find((x) => x._uuid === u)!;
      Object.assign(r, row);
    } else if (o.op === 'mutate') {
      const s = switches.find((x) => x._uuid === target(o.where))!;
      const [, how, value] = (o.mutations as [string, string, unknown][])[0]!;
      const list = (s.ports as string[]).slice();
      s.ports = how === 'insert' ? [...list, resolve(value)] : list.filter((p) => p !== value);
    }
  }
  // Ports no switch holds are garbage-collected.
  const held = new Set(switches.flatMap((s) => s.ports as string[]));
  ports = ports.filter((p) => held.has(p._uuid));
  return { switches, ports };
}

