// The pool-level tunnel controller (host-realisation §3): the master's replacement for the
// SDN controller. It gives every network that has tunnel access PIFs a key, kept in
// network.other_config["xcpnet-tunnel-key"] (the agents build a full mesh of GRE/VXLAN
// ports with it), and maintains tunnel.status.active.
//
// It reacts to store commits and writes only what differs, so its own commits settle after
// one more (empty) pass instead of looping.

import type { Store } from '../../db/store.js';
import type { Rec, Value } from '../../idl/meta.js';
import { SYSTEM_CLOCK, type Clock } from '../../common/clock.js';
import type { RealisationHub } from '../realise.js';
import { isRef } from './common.js';

// The key's name and range (VXLAN VNIs are 24 bits, GRE keys 32: one range serves both) are
// declared with network.other_config's rules, which also keep clients below pool-operator off it.
import { MAX_TUNNEL_KEY, TUNNEL_KEY } from '../../idl/checks.js';
export { MAX_TUNNEL_KEY, TUNNEL_KEY };
const RETRY_MS = 500;


export function parseKey(v: Value | undefined): number | undefined {
  if (typeof v !== 'string' || !/^[1-9]\d{0,7}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= MAX_TUNNEL_KEY ? n : undefined;
}

/**
 * Pure: the keys to write. `keys` holds every network's current key value; `needy` the
 * networks with tunnel access PIFs. A valid key stays with its network (first by ref on a
 * duplicate); a needy network without a valid unique key gets the smallest free one.
 */
export function planTunnelKeys(keys: Map<string, Value | undefined>, needy: Iterable<string>): Map<string, string> {
  const owner = new Map<number, string>();
  for (const net of [...keys.keys()].sort()) {
    const k = parseKey(keys.get(net));
    if (k !== undefined && !owner.has(k)) owner.set(k, net);
  }
  const out = new Map<string, string>();
  let next = 1;
  for (const net of [...new Set(needy)].sort()) {
    const k = parseKey(keys.get(net));
    if (k !== undefined && owner.get(k) === net) continue;
    while (owner.has(next)) next++;
    if (next > MAX_TUNNEL_KEY) break; // exhausted: such networks stay host-local
    owner.set(next, net);
    out.set(net, String(next));
  }
  return out;
}

export interface TunnelController {
  stop(): void;
  /** Runs a pass now (normally triggered by commits). */
  sync(): void;
}

/**
 * Starts the controller on a master's store and realisation hub (an XapiServer has both).
 * `active` becomes "true" once the access PIF is attached, its network has a key, and the
 * host's agent has realised a generation at or after that point without an error for it.
 */
export function startTunnelController(server: { store: Store; hub: RealisationHub }, clock: Clock = SYSTEM_CLOCK): TunnelController {
  const { store, hub } = server;
  let stopped = false;
  let scheduled = false;
  /** access PIF → the key the agent has realised it with. */
  const confirmed = new Map<string, string>();
  /** access PIFs with a hub.wait in flight, and the key it is for. */
  const pending = new Map<string, string>();
  let retry: (() => void) | undefined;

  const schedule = (): void => {
    if (stopped || scheduled) return;
    scheduled = true;
    setImmediate(() => { scheduled = false; if (!stopped) pass(); });
  };

  const keyOf = (network: string): string | undefined => {
    const k = (store.find('network', network)?.other_config as Rec | undefined)?.[TUNNEL_KEY];
    return parseKey(k) === undefined ? undefined : (k as string);
  };

  const pass = (): void => {
    // 1. Keys.
    const keys = new Map<string, Value | undefined>();
    for (const [ref, net] of store.all('network')) keys.set(ref, (net.other_config as Rec | undefined)?.[TUNNEL_KEY]);
    const needy: string[] = [];
    for (const [, tun] of store.all('tunnel')) {
      const access = isRef(tun.access_PIF) ? store.find('PIF', tun.access_PIF) : undefined;
      if (access && isRef(access.network)) needy.push(access.network);
    }
    const writes = planTunnelKeys(keys, needy);
    if (writes.size) {
      store.transact((tx) => {
        for (const [net, key] of writes) {
          const cur = tx.get('network', net);
          tx.update('network', net, { other_config: { ...(cur.other_config as Rec), [TUNNEL_KEY]: key } });
        }
      });
    }

    // 2. Realisation: ask the hub about attached access PIFs not yet confirmed with their key.
    const statuses = new Map<string, string>();
    let unwatched = 0;
    for (const [ref, tun] of store.all('tunnel')) {
      const accessRef = tun.access_PIF as string;
      const access = isRef(accessRef) ? store.find('PIF', accessRef) : undefined;
      const key = access ? keyOf(access.network as string) : undefined;
      const host = access?.host as string;
      let active = false;
      if (access && access.currently_attached === true && key !== undefined) {
        if (confirmed.get(accessRef) === key) active = true;
        else if (pending.get(accessRef) === key) { /* waiting */ } else if (hub.hasAgent(host)) watch(accessRef, host, key);
        else unwatched++;
      } else {
        confirmed.delete(accessRef);
      }
      statuses.set(ref, active ? 'true' : 'false');
    }
    for (const a of [...confirmed.keys()]) if (!store.find('PIF', a)) confirmed.delete(a);
    // An agent's first report need not commit anything: look again shortly.
    if (unwatched > 0) later();

    // 3. Status, written only where it differs.
    const changed = [...statuses].filter(([ref, active]) => (store.find('tunnel', ref)?.status as Rec | undefined)?.active !== active);
    if (changed.length) {
      store.transact((tx) => {
        for (const [ref, active] of changed) {
          const cur = tx.find('tunnel', ref);
          if (cur) tx.update('tunnel', ref, { status: { ...(cur.status as Rec), active } });
        }
      });
    }
  };

  const watch = (access: string, host: string, key: string): void => {
    pending.set(access, key);
    hub.wait(host, [access], store.generation).then(
      () => {
        if (pending.get(access) === key) pending.delete(access);
        confirmed.set(access, key);
        schedule();
      },
      () => {
        // Failed or late: the hub clears currently_attached on failures; on a timeout try again later.
        if (pending.get(access) === key) pending.delete(access);
        later();
      },
    );
  };

  const later = (): void => {
    if (!stopped && !retry) retry = clock.after(RETRY_MS, () => { retry = undefined; schedule(); });
  };

  store.onCommit(() => schedule());
  schedule();
  return {
    stop() { stopped = true; retry?.(); },
    sync() { if (!stopped) pass(); },
  };
}
