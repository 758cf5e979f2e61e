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

// Pool-parameterised helpers for the guest-side scenarios (network, VIF, VM).
type R = Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the master's in-process agent (fake backend), which realises calls that wait for the host. */
export async function ensureAgent(pool: TestPool): Promise<void> {
  const { hub } = pool.master.server;
  for (let i = 0; i < 100 && !hub.hasAgent(pool.master.host); i++) await sleep(50);
  if (!hub.hasAgent(pool.master.host)) throw new Error('the in-process agent never reported');
}
export const net = (pool: TestPool, extra: R = {}) => pool.call<string>('network.create', { name_label: 'n', other_config: {}, ...extra });
/** A VIF with a MAC derived from the VM's seed. */
export const vif = (pool: TestPool, vmRef: string, netRef: string, device = '0') => pool.call<string>('VIF.create', {
  device, network: netRef, VM: vmRef, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
});
export const rec = (pool: TestPool, cls: string, ref: string) => pool.call<R>(`${cls}.get_record`, ref);
export const token = async (pool: TestPool) => (await pool.call<{ token: string }>('event.from', ['*'], '', 0)).token;
export const events = async (pool: TestPool, tok: string) => (await pool.call<{ events: R[] }>('event.from', ['*'], tok, 0)).events;
export const hasEvent = (evs: R[], cls: string, op: string, ref: string) => evs.some((e) => e.class === cls && e.operation === op && e.ref === ref);
