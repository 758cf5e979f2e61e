// Shorthands shared by the rule scenarios: calls, record reads, PIF lookup, direct store writes
// for what the API cannot set (HA flags, other hosts), and event collection.
import type { Rec } from '../../src/idl/meta.js';
import type { TestPool } from './master.js';

export interface EventRec { operation: string; class: string; ref: string; snapshot?: Rec }

export function ruleKit(getPool: () => TestPool, defaultHost: () => string) {
  const store = () => getPool().master.server.store;
  const call = <T = any>(m: string, ...a: unknown[]) => getPool().call<T>(m, ...a);
  return {
    store,
    call,
    rec: (cls: string, ref: string) => call<any>(`${cls}.get_record`, ref),
    /** The non-VLAN PIF of `device` on a host (the master's by default). */
    pifOf(device: string, h = defaultHost()): string {
      for (const [ref, p] of store().all('PIF')) if (p.host === h && p.device === device && p.VLAN === -1) return ref;
      throw new Error(`no PIF ${device}`);
    },
    /** Writes what the API cannot (DynamicRO flags, HA, other hosts), as another component would. */
    poke: (cls: string, ref: string, patch: Rec) => store().transact((tx) => tx.update(cls, ref, patch)),
    poolRef: () => [...store().all('pool')][0]![0],
    token: async () => (await call('event.from', ['*'], '', 0)).token as string,
    /** The events after `tok` (waits at most 0.1 s). */
    events: async (tok: string, classes = ['*']) => (await call('event.from', classes, tok, 0.1)).events as EventRec[],
    newNet: (name: string, extra: Rec = {}) => call<string>('network.create', { name_label: name, other_config: {}, ...extra }),
  };
}
