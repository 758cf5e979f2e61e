// The host agent: a XenAPI client of the master. It keeps a replica of the records through
// event.from, reconciles level-triggered (on events, on switch drift, and periodically),
// and reports what is real with host.report_network_state (docs/design/agent-protocol.md).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rec } from '../idl/meta.js';
import { ApiError } from '../common/api-error.js';
import { compileHostConfig } from './desired.js';
import type { GuestDriver, HostBackend, HostNetConfig } from './model.js';
import { buildReport, reconcile, type ReconcileResult } from './reconcile.js';
import { emptyPool, poolClassOf, POOL_CLASSES, str, type PoolRecords } from './records.js';
import { OvsBackend } from './ovs-backend.js';
import { FakeHost } from '../backends/fake/host.js';
import { FakeGuests } from '../backends/fake/guests.js';
import { NetnsGuests, guestPrefixFor } from '../backends/linux/guests.js';
import { setSysctls, USERSPACE_TUNNEL_ARP } from '../backends/linux/sysctl.js';
import { claimMessage, distroClaims } from '../backends/linux/distro.js';
import { NicOrder } from '../backends/linux/nic-order.js';
import { join } from 'node:path';
import { guardedPass, ManagementGuard, type ConfirmHooks } from './confirm.js';
import { dhcpDevices, withLeases, type LeaseFacts } from './leases.js';
import { EMERGENCY_AFTER_MS, overridePool, pifForReset, pifOfBridge, type Override } from './emergency.js';
import type { LocalHost } from './local-api.js';

export type { HostBackend, GuestDriver, HostNetConfig } from './model.js';

export interface HostSideOptions {
  /** This host's uuid (seeds the fake NICs' MACs). */
  hostUuid: string;
  /** OVSDB endpoint (default unix:/var/run/openvswitch/db.sock). */
  ovsdb?: string;
  /** The host's namespace (the lab): implies the OVS backend. */
  netns?: string;
  /** Manage this machine's own NICs with OVS (opt-in). */
  manageNics?: boolean;
  /** Prefix of VM namespaces (default: derived from a lab host namespace, else 'xcpnet-'). */
  guestPrefix?: string;
  /** NICs of the fake host (default 2). */
  fakeNics?: number;
  datapath?: 'auto' | 'system' | 'netdev';
  /** The agent's state directory (the NIC order is kept there). */
  stateDir?: string;
}

/**
 * The backend and guest driver for `xcpnet agent` / the in-process agent of `serve`: OVS +
 * iproute2 + netns guests inside a lab host namespace or with --manage-nics; otherwise the
 * in-memory fake host (a simulator never touches the machine's interfaces).
 */
export async function openHostSide(o: HostSideOptions): Promise<{ backend: HostBackend; guests: GuestDriver }> {
  if (o.netns || o.manageNics) {
    // The machine's own NICs (not a lab namespace): never take one the distribution configures.
    const refuseNics = o.netns ? undefined : async (nics: string[]) =>
      new Map([...await distroClaims(nics)].map(([nic, c]) => [nic, claimMessage(c)]));
    const backend = await OvsBackend.open({ ovsdb: o.ovsdb ?? 'unix:/var/run/openvswitch/db.sock', netns: o.netns, datapath: o.datapath, label: `xcpnet-agent ${o.hostUuid}`, refuseNics,
      nicOrder: o.stateDir ? new NicOrder(join(o.stateDir, 'nic-order.json')) : undefined });
    if (backend.datapathType === 'netdev') {
      // Tunnels on the userspace datapath need ARP answered by the bridge only (see sysctl.ts).
      await setSysctls(o.netns, USERSPACE_TUNNEL_ARP)
        .catch((e: Error) => process.stderr.write(`warning: ARP sysctls for userspace tunnels not set: ${e.message}\n`));
    }
    const prefix = o.guestPrefix ?? guestPrefixFor(o.netns) ?? 'xcpnet-';
    return { backend, guests: new NetnsGuests({ prefix, hostNetns: o.netns, owner: o.hostUuid }) };
  }
  const fake = new FakeHost({ nics: o.fakeNics ?? 2, seed: o.hostUuid });
  return { backend: fake, guests: new FakeGuests(fake) };
}

export interface AgentClient {
  call(method: string, ...params: unknown[]): Promise<unknown>;
}

export interface AgentOptions {
  client: AgentClient;
  /** This host, by ref or uuid (one of them). */
  hostRef?: string;
  hostUuid?: string;
  backend: HostBackend;
  guests?: GuestDriver;
  log?: (msg: string) => void;
  /** Full reconcile at least this often (default 30000 ms). */
  resyncMs?: number;
  /** event.from long-poll timeout (default 30 s). */
  eventTimeoutS?: number;
  /** Coalescing delay before a reconcile (default 20 ms). */
  debounceMs?: number;
  /** Confirms management changes, rolling back one that cuts the host off (real hosts, the lab). */
  confirm?: ConfirmHooks;
  /** DHCP clients for DHCP PIFs (real hosts, the lab). */
  dhcp?: {
    lease(dev: string): LeaseFacts | undefined;
    ensure(devs: Iterable<string>): void;
    retain(devs: Iterable<string>): Promise<void>;
    onChange(cb: () => void): () => void;
    close(): Promise<void>;
  };
  /** Where the management interface's DNS goes (the host's resolver file). */
  resolver?: { write(dns: { servers: string[]; search: string[] } | undefined): boolean };
  /** The master's address, as HOST_IS_SLAVE names it on the local API. */
  masterAddress?: string;
  /** Called after each report sent (tests, the in-process agent). */
  onReport?: (generation: number, state: ReturnType<typeof buildReport>) => void;
}

export interface RunningAgent {
  readonly hostRef: string;
  /** The generation last realised (and reported). */
  readonly generation: number;
  /** Runs a reconcile now (after the initial sync) and resolves with its result. */
  reconcileNow(): Promise<ReconcileResult | undefined>;
  /** What the agent's local API (emergency mode, reset-networking) asks of it. */
  readonly local: LocalHost;
  stop(): Promise<void>;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

interface EventRec { class: string; operation: string; ref: string; snapshot?: Rec }

/** Applies an event batch to the replica; true when some record really changed. */
export function applyEvents(pool: PoolRecords, events: EventRec[]): boolean {
  let changed = false;
  for (const ev of events) {
    const cls = poolClassOf(ev.class);
    if (!cls) continue;
    const table = pool[cls];
    if (ev.operation === 'del') {
      if (ev.ref in table) { delete table[ev.ref]; changed = true; }
    } else if (ev.snapshot) {
      if (!same(table[ev.ref], ev.snapshot)) changed = true;
      table[ev.ref] = ev.snapshot;
    }
  }
  return changed;
}

/** A report the master does not answer within this time is given up (and sent again later). */
const REPORT_TIMEOUT_MS = 30_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => { t = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms); })])
    .finally(() => clearTimeout(t));
}

export const generationOf = (token: string): number => {
  const n = Number(token.split(',')[0]);
  return Number.isFinite(n) ? n : 0;
};

export async function runAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = opts.log ?? (() => {});
  const { client, backend, guests } = opts;
  let stopped = false;
  const hostRef = opts.hostRef ?? str(await client.call('host.get_by_uuid', opts.hostUuid) as string);

  let pool: PoolRecords | undefined; // undefined until the first batch: never reconcile on nothing
  let token = '';
  let generation = 0;
  let reportedGen = -1;
  let lastState = '';
  let needReport = false;
  let reportUnsupported = false;

  let running: Promise<void> | undefined;
  let dirty = false;
  let lastResult: ReconcileResult | undefined;
  // A pass whose host config is the one the last clean pass realised, with no sign of drift
  // since (switch change, periodic resync, the master's touch, an explicit reconcileNow),
  // only reports: e.g. the bookkeeping write (current_operations) that precedes a VIF.plug.
  let fullPass = true;
  let lastCfgText = '';
  let lastFullState: ReturnType<typeof buildReport> | undefined;
  const guard = new ManagementGuard();
  // Emergency mode and reset-networking: a local override of the management configuration,
  // kept until the master has recorded it (see emergency.ts).
  let override: Override | undefined;
  let failingSince: number | undefined;
  let lastContact = Date.now();
  let recording = false;

  /** One pass; false when it only reported (no observe, no apply). */
  const doReconcile = async (): Promise<boolean> => {
    if (!pool) return false;
    const gen = generation;
    const view = override ? overridePool(pool, hostRef, override) : pool;
    const compiled: HostNetConfig = compileHostConfig(view, hostRef, { datapathType: backend.datapathType });
    const cfg = opts.dhcp ? withLeases(compiled, (d) => opts.dhcp!.lease(d)) : compiled;
    const cfgText = JSON.stringify(cfg);
    let state: ReturnType<typeof buildReport>;
    const full = fullPass || !lastFullState || cfgText !== lastCfgText || Object.keys(lastResult?.errors ?? {}).length > 0;
    if (full) {
      fullPass = false; // drift noticed from here on asks for another full pass
      const mgmtPifs = new Set(Object.entries(view.PIF).filter(([, p]) => str(p.host) === hostRef && p.management === true).map(([ref]) => ref));
      // Clients of interfaces this pass may remove release their lease while they still can.
      await opts.dhcp?.retain(dhcpDevices(cfg));
      // An override is the operator's, made because the master is out of reach: not confirmed.
      const g = await guardedPass({ cfg, mgmtPifs, guard, hooks: override ? undefined : opts.confirm, run: (c) => reconcile(c, backend, guests, log), log });
      const r = g.result;
      lastResult = r;
      opts.dhcp?.ensure(dhcpDevices(g.applied));
      opts.resolver?.write(g.applied.dns);
      for (const [ref, m] of Object.entries(r.errors)) log(`error ${ref}: ${m}`);
      const bondsUp: Record<string, number> = {};
      for (const b of g.applied.bonds) bondsUp[b.ref] = await backend.bondLinksUp(b.port, b.members);
      const pifModes = Object.fromEntries(g.applied.pifs.map((p) => [p.ref, str(pool!.PIF[p.ref]?.ip_configuration_mode)]));
      state = buildReport(g.applied, r.observed, r.errors, { backend: backend.kind, nics: await backend.nics(), bondsUp, bridges: await backend.bridges() }, pifModes);
      if (g.rollback) state.rollback = g.rollback;
      lastCfgText = cfgText;
      lastFullState = state;
    } else state = lastFullState!;
    const text = JSON.stringify(state);
    // Report what the master asked about (needReport), and anything observed that changed on its
    // own (a cable pulled: carrier, Bond.links_up) even without a new generation.
    if (reportUnsupported || (!needReport && text === lastState)) return full;
    // Out of the master's reach: the report waits for it (a call would hang the passes).
    if (local.inEmergency()) { needReport = true; return full; }
    // A touch that arrived while this pass ran is not answered by it (its generation is older
    // than the touch): keep the request for the next pass, which the touch has kicked.
    if (gen === generation) needReport = false;
    try {
      await withTimeout(client.call('host.report_network_state', hostRef, gen, state), REPORT_TIMEOUT_MS, 'the master did not answer the report');
      reportedGen = gen;
      lastState = text;
      opts.onReport?.(gen, state);
    } catch (e) {
      const code = (e as { code?: string }).code ?? String(e);
      if (/MESSAGE_METHOD_UNKNOWN|UNKNOWN_METHOD/.test(code)) { reportUnsupported = true; log('master has no host.report_network_state; not reporting'); }
      else { needReport = true; log(`report failed: ${(e as Error).message}`); }
    }
    return full;
  };

  // Coalescing: a change after a quiet spell is reconciled at once (a lone VIF.plug waits for
  // nothing); changes that keep coming within debounceMs of the last pass wait that long, so
  // a burst is realised in few passes.
  let lastPassEnd = 0;
  const loop = async () => {
    while (dirty && !stopped) {
      dirty = false;
      const debounce = opts.debounceMs ?? 20;
      if (Date.now() - lastPassEnd < debounce) await sleep(debounce);
      else await Promise.resolve();
      try { if (await doReconcile()) lastPassEnd = Date.now(); }
      catch (e) { lastPassEnd = Date.now(); log(`reconcile failed: ${(e as Error).stack ?? String(e)}`); }
    }
  };
  const kick = (): Promise<void> => {
    dirty = true;
    if (!running) running = loop().finally(() => { running = undefined; if (dirty && !stopped) void kick(); });
    return running;
  };
  const kickFull = (): Promise<void> => { fullPass = true; return kick(); };

  const events = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const res = await client.call('event.from', [...POOL_CLASSES], token, token === '' ? 0 : (opts.eventTimeoutS ?? 30)) as
          { events?: EventRec[]; token?: string };
        if (stopped) return;
        failures = 0;
        failingSince = undefined;
        lastContact = Date.now();
        if (override && !recording) recordOverride();
        const evs = res.events ?? [];
        let changed: boolean;
        if (token === '') { pool = emptyPool(); applyEvents(pool, evs); changed = true; fullPass = true; }
        else changed = applyEvents(pool!, evs);
        token = res.token ?? token;
        generation = generationOf(token);
        // A change is acknowledged with a report; so is a touch of this host's own record (the
        // master asking for a fresh look, e.g. PIF.scan), even though it changes nothing. Other
        // writes that change nothing get no answer, so a master echoing reports cannot loop.
        if (evs.some((e) => e.ref === hostRef)) fullPass = true;
        if (changed || evs.some((e) => e.ref === hostRef)) needReport = true;
        if (changed || needReport) void kick();
      } catch (e) {
        if (stopped) return;
        failures++;
        failingSince ??= Date.now();
        log(`event.from failed (${failures}): ${(e as Error).message}`);
        if (failures >= 3) token = ''; // start over with a full sync (the replica is replaced when it arrives)
        await sleep(Math.min(10000, 500 * 2 ** Math.min(failures, 5)));
      }
    }
  };
  // The master is back while an override is in force: it records the same management
  // configuration (the calls wait for this agent's report, so they are not awaited here).
  const recordOverride = (): void => {
    const o = override!;
    recording = true;
    const calls = o.kind === 'reset'
      ? client.call('PIF.reconfigure_ip', o.pif, o.cfg.mode, o.cfg.IP, o.cfg.netmask, o.cfg.gateway, o.cfg.DNS).then(() => client.call('host.management_reconfigure', o.pif))
      : client.call('host.management_reconfigure', o.pif);
    void calls.then(() => {
      log(`master reached: management recorded on ${o.pif}`);
      if (override === o) override = undefined;
    }, (e: Error) => {
      // Refused by the master: its records stand. Not reached after all: tried again later.
      log(`recording the local management configuration on the master failed: ${e.message}`);
      if (e instanceof ApiError && override === o) override = undefined;
    }).finally(() => { recording = false; void kickFull(); });
  };
  const setOverride = async (o: Override): Promise<void> => {
    override = o;
    log(`local override: management on ${o.pif} (${o.kind === 'bridge' ? `bridge ${o.bridge}` : `${o.cfg.device} ${o.cfg.mode}`}) until the master records it`);
    await kickFull();
    while (running) await running;
    if (!local.inEmergency() && !recording) recordOverride(); // the master is reachable: record it now
  };
  const local: LocalHost = {
    // Calls to the master that fail for a while, or that hang (a master that does not answer):
    // a long poll returns within its timeout, so no answer for that long and more is an outage.
    inEmergency: () => (failingSince !== undefined && Date.now() - failingSince >= EMERGENCY_AFTER_MS)
      || Date.now() - lastContact >= (opts.eventTimeoutS ?? 30) * 1000 + EMERGENCY_AFTER_MS,
    master: () => opts.masterAddress ?? '',
    localManagement: async (bridge) => {
      if (!pool) throw new ApiError('HOST_OFFLINE', [hostRef]);
      await setOverride({ kind: 'bridge', bridge, pif: pifOfBridge(pool, hostRef, bridge) });
    },
    resetNetworking: async (cfg) => {
      if (!pool) throw new ApiError('HOST_OFFLINE', [hostRef]);
      await setOverride({ kind: 'reset', cfg, pif: pifForReset(pool, hostRef, cfg) });
    },
  };
  const eventsDone = events();
  const timer = setInterval(() => { if (pool) void kickFull(); }, opts.resyncMs ?? 30000);
  const unsub = backend.onChange(() => { if (pool) void kickFull(); });
  const unsubDhcp = opts.dhcp?.onChange(() => { if (pool) void kickFull(); });

  return {
    hostRef,
    get generation() { return reportedGen < 0 ? 0 : reportedGen; },
    local,
    async reconcileNow() {
      if (!pool) return undefined;
      await kickFull();
      while (running) await running;
      return lastResult;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      unsub();
      unsubDhcp?.();
      while (running) await running;
      void eventsDone; // a pending long poll ends on its own; its result is ignored
    },
  };
}
