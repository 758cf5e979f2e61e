// The pool-level tunnel controller (in xapi: an SDN controller, SDN_controller): the master's replacement for the
// SDN controller. It gives every network that has tunnel access PIFs a key, kept in
// network.other_config["xcpnet-tunnel-key"] (the agents build a full mesh of GRE/VXLAN
// ports with it), and maintains tunnel.status.active.
//
// It reacts to store commits and writes only what differs, so its own commits settle after
// one more (empty) pass instead of looping. A pass costs what the commits before it changed:
// the keys are kept in a book updated object by object (TunnelKeyBook), and only the tunnels
// whose record, access PIF or network changed have their status looked at again.

import type { CommitChange, Store } from '../../db/store.js';
import type { Rec, Value } from '../../idl/meta.js';
import { SYSTEM_CLOCK, type Clock } from '../../common/clock.js';
import type { RealisationHub } from '../realise.js';
import { isRef } from './common.js';

// The key's name and range (VXLAN VNIs are 24 bits, GRE keys 32: one range serves both) are
// declared with network.other_config's rules, which also keep clients below pool-operator off it.
import { MAX_TUNNEL_KEY, SDN_KEY, TUNNEL_KEY } from '../../idl/checks.js';
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

/**
 * The keys of every network and the networks that need one, kept up to date change by change:
 * `plan()` answers what planTunnelKeys would over the whole pool, in time proportional to the
 * networks still waiting for a key.
 */
export class TunnelKeyBook {
  /** Each network's valid key. */
  private readonly keyOf = new Map<string, number>();
  /** The networks holding each valid key (more than one only on a duplicate). */
  private readonly holders = new Map<number, Set<string>>();
  /** Networks with tunnel access PIFs, and how many. */
  private readonly needs = new Map<string, number>();
  /** Needy networks without a valid key of their own (a duplicate's later holders included). */
  private readonly waiting = new Set<string>();
  /** Every key below this one is held. */
  private freeHint = 1;

  /** The network's key value is now `value` (undefined: none, or the network is gone). */
  setKey(net: string, value: Value | undefined): void {
    const k = parseKey(value);
    const old = this.keyOf.get(net);
    if (old === k) return;
    if (old !== undefined) {
      const hs = this.holders.get(old)!;
      hs.delete(net);
      if (hs.size === 0) {
        this.holders.delete(old);
        if (old < this.freeHint) this.freeHint = old;
      } else for (const h of hs) this.recheck(h);
    }
    if (k === undefined) this.keyOf.delete(net);
    else {
      this.keyOf.set(net, k);
      const hs = this.holders.get(k) ?? new Set<string>();
      this.holders.set(k, hs);
      hs.add(net);
      while (this.holders.has(this.freeHint)) this.freeHint++;
      for (const h of hs) this.recheck(h);
    }
    this.recheck(net);
  }

  /** One more (+1) or one fewer (-1) tunnel access PIF on the network. */
  need(net: string, delta: 1 | -1): void {
    const n = (this.needs.get(net) ?? 0) + delta;
    if (n > 0) this.needs.set(net, n);
    else this.needs.delete(net);
    this.recheck(net);
  }

  /** The keys to write: the smallest free ones, to the waiting networks in ref order. */
  plan(): Map<string, string> {
    const out = new Map<string, string>();
    if (this.waiting.size === 0) return out;
    const given = new Set<number>();
    let next = this.freeHint;
    for (const net of [...this.waiting].sort()) {
      while (this.holders.has(next) || given.has(next)) next++;
      if (next > MAX_TUNNEL_KEY) break; // exhausted: such networks stay host-local
      given.add(next);
      out.set(net, String(next));
    }
    return out;
  }

  /** A duplicated key stays with the first holder by ref. */
  private owner(k: number): string | undefined {
    let min: string | undefined;
    for (const h of this.holders.get(k) ?? []) if (min === undefined || h < min) min = h;
    return min;
  }

  private recheck(net: string): void {
    const k = this.keyOf.get(net);
    if (this.needs.has(net) && (k === undefined || this.owner(k) !== net)) this.waiting.add(net);
    else this.waiting.delete(net);
  }
}

export interface TunnelController {
  stop(): void;
  /** Runs a pass now (normally triggered by commits). */
  sync(): void;
}

/** Multimap helpers. */
function addTo(m: Map<string, Set<string>>, key: string | undefined, v: string): void {
  if (key === undefined) return;
  const s = m.get(key) ?? new Set<string>();
  m.set(key, s);
  s.add(v);
}
function removeFrom(m: Map<string, Set<string>>, key: string | undefined, v: string): void {
  if (key === undefined) return;
  const s = m.get(key);
  if (s?.delete(v) && s.size === 0) m.delete(key);
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

  const book = new TunnelKeyBook();
  /** Each tunnel's access PIF (as its record names it) and the network that PIF is on. */
  const tunnels = new Map<string, { access: string | undefined; net: string | undefined }>();
  const tunnelsOfPif = new Map<string, Set<string>>();
  const tunnelsOfNet = new Map<string, Set<string>>();
  /** Written since the last pass. */
  let changed = { networks: new Set<string>(), PIFs: new Set<string>(), tunnels: new Set<string>() };
  /** Tunnels whose status to look at again in the next pass, and after RETRY_MS. */
  const dirty = new Set<string>();
  const retrying = new Set<string>();

  const schedule = (): void => {
    if (stopped || scheduled) return;
    scheduled = true;
    setImmediate(() => { scheduled = false; if (!stopped) pass(); });
  };

  const keyOf = (network: string): string | undefined => {
    const k = (store.find('network', network)?.other_config as Rec | undefined)?.[TUNNEL_KEY];
    return typeof k === 'string' && parseKey(k) !== undefined ? k : undefined;
  };

  /** Re-reads a tunnel's access PIF and network, keeping the book's needs in step. */
  const refreshTunnel = (ref: string): void => {
    const old = tunnels.get(ref);
    const tun = store.find('tunnel', ref);
    const access = tun && isRef(tun.access_PIF) ? (tun.access_PIF) : undefined;
    const pif = access ? store.find('PIF', access) : undefined;
    const net = pif && isRef(pif.network) ? (pif.network) : undefined;
    if (old?.access !== access || !tun) { removeFrom(tunnelsOfPif, old?.access, ref); if (tun) addTo(tunnelsOfPif, access, ref); }
    if (old?.net !== net || !tun) {
      removeFrom(tunnelsOfNet, old?.net, ref);
      if (old?.net !== undefined) book.need(old.net, -1);
      if (tun) { addTo(tunnelsOfNet, net, ref); if (net !== undefined) book.need(net, 1); }
    }
    if (tun) tunnels.set(ref, { access, net });
    else tunnels.delete(ref);
    dirty.add(ref);
  };

  const pass = (): void => {
    const c = changed;
    changed = { networks: new Set(), PIFs: new Set(), tunnels: new Set() };
    for (const t of c.tunnels) refreshTunnel(t);
    for (const p of c.PIFs) {
      for (const t of [...(tunnelsOfPif.get(p) ?? [])]) refreshTunnel(t);
      if (!store.find('PIF', p)) confirmed.delete(p);
    }
    for (const n of c.networks) {
      book.setKey(n, (store.find('network', n)?.other_config as Rec | undefined)?.[TUNNEL_KEY]);
      for (const t of tunnelsOfNet.get(n) ?? []) dirty.add(t);
    }

    // 1. Keys.
    const writes = book.plan();
    if (writes.size) {
      store.transact((tx) => {
        for (const [net, key] of writes) {
          const cur = tx.find('network', net);
          if (cur) tx.update('network', net, { other_config: { ...(cur.other_config as Rec), [TUNNEL_KEY]: key } });
        }
      });
    }

    // On an OVN pool, tunnel.status is the OVN central's (from the southbound chassis).
    if (poolSdn() === 'ovn') { dirty.clear(); return; }
    // 2. Realisation: ask the hub about attached access PIFs not yet confirmed with their key.
    const statuses = new Map<string, string>();
    let unwatched = false;
    for (const ref of dirty) {
      const tun = store.find('tunnel', ref);
      if (!tun) continue;
      const accessRef = tun.access_PIF;
      const access = isRef(accessRef) ? store.find('PIF', accessRef) : undefined;
      const key = access ? keyOf(access.network) : undefined;
      let active = false;
      if (access && access.currently_attached === true && key !== undefined) {
        if (confirmed.get(accessRef) === key) active = true;
        else if (pending.get(accessRef) === key) { /* waiting */ } else if (hub.hasAgent(access.host)) watch(accessRef, access.host, key);
        else { retrying.add(ref); unwatched = true; }
      } else {
        confirmed.delete(accessRef);
      }
      statuses.set(ref, active ? 'true' : 'false');
    }
    dirty.clear();
    // An agent's first report need not commit anything: look again shortly.
    if (unwatched) later();

    // 3. Status, written only where it differs.
    const differ = [...statuses].filter(([ref, active]) => (store.find('tunnel', ref)?.status as Rec | undefined)?.active !== active);
    if (differ.length) {
      store.transact((tx) => {
        for (const [ref, active] of differ) {
          const cur = tx.find('tunnel', ref);
          if (cur) tx.update('tunnel', ref, { status: { ...(cur.status as Rec), active } });
        }
      });
    }
  };

  const touchAccess = (access: string): void => { for (const t of tunnelsOfPif.get(access) ?? []) dirty.add(t); };

  const watch = (access: string, host: string, key: string): void => {
    pending.set(access, key);
    hub.wait(host, [access], store.generation).then(
      () => {
        if (pending.get(access) === key) pending.delete(access);
        confirmed.set(access, key);
        touchAccess(access);
        schedule();
      },
      () => {
        // Failed or late: the hub clears currently_attached on failures; on a timeout try again later.
        if (pending.get(access) === key) pending.delete(access);
        for (const t of tunnelsOfPif.get(access) ?? []) retrying.add(t);
        later();
      },
    );
  };

  const later = (): void => {
    if (!stopped && !retry) {
      retry = clock.after(RETRY_MS, () => {
        retry = undefined;
        for (const t of retrying) dirty.add(t);
        retrying.clear();
        schedule();
      });
    }
  };

  const poolSdn = (): string | undefined => {
    for (const [, p] of store.all('pool')) {
      const sdn = (p.other_config as Rec | undefined)?.[SDN_KEY];
      return typeof sdn === 'string' ? sdn : undefined;
    }
    return undefined;
  };
  const relevant = { network: 'networks', PIF: 'PIFs', tunnel: 'tunnels' } as const;
  store.onCommit((_gen: number, changes: readonly CommitChange[]) => {
    let any = false;
    for (const ch of changes) {
      // Switching the pool's SDN: every tunnel's status is looked at again.
      if (ch.cls === 'pool') { for (const [ref] of store.all('tunnel')) changed.tunnels.add(ref); any = true; }
      const kind = relevant[ch.cls as keyof typeof relevant];
      if (kind) { changed[kind].add(ch.ref); any = true; }
    }
    if (any) schedule();
  });
  // The first pass looks at everything.
  for (const [ref] of store.all('network')) changed.networks.add(ref);
  for (const [ref] of store.all('tunnel')) changed.tunnels.add(ref);
  schedule();
  return {
    stop() { stopped = true; retry?.(); },
    sync() { if (!stopped) pass(); },
  };
}
