// Switch actions → one OVSDB transaction (the ovs-vsctl recipes of xcp-networkd, ocaml/networkd/lib/network_utils.ml), plus the executor
// that runs it with the next_cfg/cur_cfg barrier and maps failures to the objects named.
import { OvsdbError, type OvsdbClient } from '../ovsdb/index.js';
import * as ops from '../ovsdb/ops.js';
import type { Op } from '../ovsdb/ops.js';
import { actionOwner, describeAction, type IfaceRow, type OvsAction, type PortSpec, type StrMap } from './model.js';

export interface BuiltTxn {
  ops: Op[];
  /** For each op, the index of the action it belongs to (-1 for bookkeeping ops). */
  actionOf: number[];
  /** Indexes of `mutate Bridge.ports insert` ops whose count must be 1 (the bridge existed). */
  mustHit: number[];
}

const ifaceRow = (i: IfaceRow) => ({
  name: i.name, type: i.type, options: i.options, mtu_request: i.mtu_request, mac: i.mac,
  external_ids: i.external_ids, other_config: i.other_config,
});

function portOps(p: PortSpec, tag: string): { inserts: Op[]; portName: string } {
  const inserts: Op[] = p.interfaces.map((i, j) => ops.insert('Interface', ifaceRow(i), `i${tag}_${j}`));
  const portName = `p${tag}`;
  inserts.push(ops.insert('Port', {
    name: p.name, interfaces: p.interfaces.map((_, j) => `i${tag}_${j}`), tag: p.tag, fake_bridge: p.fake_bridge, protected: p.protected,
    bond_mode: p.bond_mode, lacp: p.lacp, bond_updelay: p.bond_updelay, bond_downdelay: p.bond_downdelay, mac: p.mac,
    other_config: p.other_config, external_ids: p.external_ids,
  }, portName));
  return { inserts, portName };
}

/** Pure: the operations for a list of switch actions, in order (no next_cfg bump: the executor adds it). */
export function buildTxn(actions: OvsAction[], comment: string): BuiltTxn {
  const out: BuiltTxn = { ops: [], actionOf: [], mustHit: [] };
  const push = (k: number, ...o: Op[]) => { for (const x of o) { out.ops.push(x); out.actionOf.push(k); } };
  actions.forEach((a, k) => {
    switch (a.kind) {
      case 'add-bridge': {
        const { inserts, portName } = portOps(a.port, String(k));
        const { owner, ...row } = a.bridge;
        void owner;
        push(k, ...inserts,
          ops.insert('Bridge', { ...row, ports: [portName] }, `b${k}`),
          ops.mutate('Open_vSwitch', [], [ops.mInsert('bridges', [`b${k}`])]));
        break;
      }
      case 'update-bridge': push(k, ops.update('Bridge', ops.byUuid(a.uuid), a.set)); break;
      case 'del-bridge': push(k, ops.mutate('Open_vSwitch', [], [ops.mDelete('bridges', [a.uuid])])); break;
      case 'add-port': {
        const { inserts, portName } = portOps(a.port, String(k));
        push(k, ...inserts);
        out.mustHit.push(out.ops.length);
        push(k, ops.mutate('Bridge', ops.byName(a.port.bridge), [ops.mInsert('ports', [portName])]));
        break;
      }
      case 'update-port': push(k, ops.update('Port', ops.byUuid(a.uuid), a.set)); break;
      case 'update-iface': push(k, ops.update('Interface', ops.byUuid(a.uuid), a.set)); break;
      case 'del-port': push(k, ops.mutate('Bridge', ops.byName(a.bridge), [ops.mDelete('ports', [a.uuid])])); break;
    }
  });
  if (out.ops.length) push(-1, ops.comment(comment));
  return out;
}

export interface OvsApplyResult {
  errors: StrMap;
  transactions: number;
}

const messageOf = (a: OvsAction, e: unknown): string => {
  const detail = OvsdbError.is(e) ? [e.tag, e.details].filter(Boolean).join(': ') || e.message : (e as Error).message;
  return `${describeAction(a)}: ${detail}`;
};

/**
 * Applies switch actions in one transaction with the apply barrier. When an operation fails,
 * its action is dropped (its object gets the error) and the rest is retried; when the commit
 * itself fails (no op to blame), each action is tried on its own so only the culprit fails.
 */
export async function applyOvs(client: OvsdbClient, actions: OvsAction[], opts: { comment: string; timeoutMs: number }): Promise<OvsApplyResult> {
  const errors: StrMap = {};
  let transactions = 0;
  const blame = (a: OvsAction, e: unknown) => {
    const owner = actionOwner(a);
    if (owner) errors[owner] ??= messageOf(a, e);
  };
  const attempt = async (batch: OvsAction[]): Promise<{ ok: true } | { ok: false; failed?: number; error: unknown }> => {
    const t = buildTxn(batch, opts.comment);
    if (t.ops.length === 0) return { ok: true };
    try {
      transactions++;
      const { results } = await client.transactAndWait(t.ops, opts.timeoutMs);
      for (const i of t.mustHit) {
        if (results[i]?.count !== 1) blame(batch[t.actionOf[i]!]!, new Error('bridge does not exist'));
      }
      return { ok: true };
    } catch (e) {
      if (OvsdbError.is(e) && e.opIndex !== undefined && e.opIndex < t.ops.length && t.actionOf[e.opIndex]! >= 0) {
        return { ok: false, failed: t.actionOf[e.opIndex]!, error: e };
      }
      return { ok: false, error: e };
    }
  };
  let pending = actions;
  for (let round = 0; pending.length > 0 && round <= actions.length; round++) {
    const r = await attempt(pending);
    if (r.ok) return { errors, transactions };
    if (r.failed !== undefined) {
      blame(pending[r.failed]!, r.error);
      pending = pending.filter((_, i) => i !== r.failed);
      continue;
    }
    if (OvsdbError.is(r.error) && (r.error.kind === 'cur-cfg-timeout')) {
      // Committed, but vswitchd is late: every object is suspect; report and stop.
      for (const a of pending) blame(a, r.error);
      return { errors, transactions };
    }
    if (pending.length === 1 || (OvsdbError.is(r.error) && r.error.opIndex === undefined)) {
      // Connection-level failure (or a single action): nothing more to isolate.
      for (const a of pending) blame(a, r.error);
      return { errors, transactions };
    }
    for (const a of pending) {
      const one = await attempt([a]);
      if (!one.ok) blame(a, one.error);
    }
    return { errors, transactions };
  }
  return { errors, transactions };
}
