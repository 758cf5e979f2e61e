// The host agent: a XenAPI client of the master. It keeps a replica of the records through
// event.from, reconciles level-triggered (on events, on switch drift, and periodically),
// and reports what is real with host.report_network_state (docs/design/agent-protocol.md).
// It survives the master (restarted, unreachable, at start too), itself (a local copy of the
// last configuration) and Open vSwitch (its daemons dying or restarting).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rec } from '../idl/meta.js';
import type { GuestDriver, HostDriver } from '../backends/contract.js';
import type { SwitchHealth } from '../backends/ovs/health.js';
import { AGENT_HEARTBEAT_MS, emptyReport, REPORT_METHOD, type HostReport } from '../protocol/host-agent.js';
import { compileHost, plugMtus, vmsElsewhere, type Desired } from './desired.js';
import { buildReport, guestNetworks, reconcile, type ReconcileResult } from './reconcile.js';
import { emptyPool, poolClassOf, POOL_CLASSES, sameValue, str, type PoolRecords } from './records.js';
import { HostCompiler, IndexedPool } from './host-slice.js';
import type { HostCache } from './host-cache.js';
import type { HypervisorGuests } from './hypervisor.js';
import { codeOf } from './master-link.js';
import { ApiError } from '../common/api-error.js';
import { guardedPass, ManagementGuard, type ConfirmHooks } from './confirm.js';
import { dhcpDevices, withLeases, type LeaseFacts } from './leases.js';
import { EMERGENCY_AFTER_MS, overridePool, pifForReset, pifOfBridge, type Override } from './emergency.js';
import type { LocalHost } from './local-api.js';

export type { GuestDriver, HostDriver } from '../backends/contract.js';

export interface AgentClient {
  call(method: string, ...params: unknown[]): Promise<unknown>;
  /** Drops kept connections (after the host's management configuration changed). */
  resetConnections?(): void;
  /**
   * Grows each time the calls go to another master (the host joined or left a pool: see
   * membership.ts); the agent then syncs from scratch, as with a new master.
   */
  readonly masterChanges?: number;
}

/** Time as the agent's loop sees it: injectable, so tests never wait on the wall clock. */
export interface AgentClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: AgentClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/**
 * Retries of calls to the master (unreachable, restarting, refusing): the first at once, then
 * doubling from minMs up to maxMs and staying there for as long as it takes. The bound is what
 * a master that comes back may wait for its agents.
 */
export const MASTER_RETRY = { minMs: 500, maxMs: 5000 };

/** Pure: the wait before the n-th consecutive retry (n ≥ 1). */
export function retryDelay(n: number, r: { minMs: number; maxMs: number } = MASTER_RETRY): number {
  return n <= 1 ? 0 : Math.min(r.maxMs, r.minMs * 2 ** Math.min(n - 2, 30));
}

export interface AgentOptions {
  client: AgentClient;
  /** This host, by ref or uuid (one of them); a uuid is looked up on the master (again after each full sync). */
  hostRef?: string;
  hostUuid?: string;
  backend: HostDriver;
  guests?: GuestDriver;
  log?: (msg: string) => void;
  /** Full reconcile at least this often (default 30000 ms). */
  resyncMs?: number;
  /** How often the guests' addresses are looked at (default GUEST_POLL_MS). */
  guestPollMs?: number;
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
  /** The master's address, as HOST_IS_SLAVE names it on the local API (a function: it may change). */
  masterAddress?: string | (() => string);
  /** Called after each report sent (tests, the in-process agent). */
  onReport?: (generation: number, state: AgentReport) => void;
  clock?: AgentClock;
  /** Retry delays for calls to the master (default MASTER_RETRY). */
  retry?: { minMs: number; maxMs: number };
  /**
   * Where the last realised host configuration is kept: loaded at start and realised at once
   * (before the master is reached, which may need it: the management interface), saved after
   * every pass that realised a new one from the records.
   */
  cache?: HostCache<Desired>;
  /** Whether the switch can realise anything now (Open vSwitch's daemons); absent: always. */
  health?: Pick<SwitchHealth, 'up' | 'reason' | 'onChange'>;
  /** Guests of a real hypervisor (hotplug, adoption): see hypervisor.ts. */
  hypervisor?: Pick<HypervisorGuests, 'attach' | 'shape' | 'report' | 'afterPass' | 'close'>;
}

/** The report; while the switch is down it carries `unrealised` (protocol/host-agent.ts). */
export type AgentReport = HostReport;

export interface RunningAgent {
  /** This host's ref on the master ('' until the master has been reached). */
  readonly hostRef: string;
  /** The generation last realised (and reported). */
  readonly generation: number;
  /** Runs a reconcile now (after the initial sync, or from the local copy) and resolves with its result. */
  reconcileNow(): Promise<ReconcileResult | undefined>;
  /** What the agent's local API (emergency mode, reset-networking) asks of it. */
  readonly local: LocalHost;
  stop(): Promise<void>;
}

interface EventRec { class: string; operation: string; ref: string; snapshot?: Rec }

/**
 * Applies an event batch to the replica; true when some record really changed. A record that
 * did not change is kept as it was (the same object), so the host's compile is not run again.
 */
export function applyEvents(replica: IndexedPool, events: EventRec[]): boolean {
  let changed = false;
  for (const ev of events) {
    const cls = poolClassOf(ev.class);
    if (!cls) continue;
    if (ev.operation === 'del') {
      if (ev.ref in replica.records[cls]) { replica.remove(cls, ev.ref); changed = true; }
    } else if (ev.snapshot && !sameValue(replica.records[cls][ev.ref], ev.snapshot)) {
      replica.put(cls, ev.ref, ev.snapshot);
      changed = true;
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

/** Pure: a loaded local copy has the shape of a compiled host configuration (a damaged or older file does not). */
export function isDesired(v: unknown): v is Desired {
  const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);
  if (!isObj(v) || !isObj(v.doc) || !isObj(v.errors)) return false;
  const doc = v.doc;
  return typeof doc.host === 'string' && ['bridges', 'vifs', 'addresses'].every((k) => Array.isArray(doc[k]))
    && ['vms', 'pifs', 'bonds'].every((k) => Array.isArray(v[k]));
}

/**
 * Starts the agent and returns at once: nothing here waits for the master. The loop logs in (again
 * after the master restarts), retries with a bounded backoff while the master is unreachable,
 * realises the local copy of the last configuration until the records arrive, and stops realising
 * while the switch is down, reporting instead what is not realised.
 */
/** How often an agent looks at its guests' addresses. */
export const GUEST_POLL_MS = 3000;

export async function runAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = opts.log ?? (() => {});
  const clock = opts.clock ?? REAL_CLOCK;
  const { client, backend, guests, health, hypervisor } = opts;
  if (!opts.hostRef && !opts.hostUuid) throw new Error('runAgent: hostRef or hostUuid is needed');
  let stopped = false;
  let hostRef = opts.hostRef ?? '';

  let replica: IndexedPool | undefined; // undefined until the first batch: never reconcile on nothing
  let pool: PoolRecords | undefined; // replica's records
  // Compiles this host again only when the records it reads changed (host-slice.ts).
  const compiler = new HostCompiler();
  const compile = (records: PoolRecords, plugged: ReadonlyMap<string, number>): Desired =>
    (replica && records === replica.records ? compiler.compile(replica, hostRef, plugged) : compileHost(records, hostRef, plugged));
  let token = '';
  let generation = 0;
  let reportedGen = -1;
  let lastState = '';
  let needReport = false;
  let reportUnsupported = false;

  // The local copy: realised until the records arrive.
  const cached = opts.cache?.load();
  let cachedCfg = cached?.config;
  // Each attached PIF's MTU as of its plug (desired.ts plugMtus), from the last realised copy at start.
  let keptMtus: Map<string, number> = new Map((cachedCfg?.pifs ?? []).map((p) => [p.ref, p.mtu]));
  let savedText = cachedCfg ? JSON.stringify(cachedCfg) : '';
  if (cached) log(`local copy of the host configuration found (generation ${cached.generation}, saved ${cached.savedAt})`);
  let cacheRealised = false;

  let running: Promise<void> | undefined;
  let dirty = false;
  let lastResult: ReconcileResult | undefined;
  // A pass whose host config is the one the last clean pass realised, with no sign of drift
  // since (switch change, periodic resync, the master's touch, an explicit reconcileNow),
  // only reports: e.g. the bookkeeping write (current_operations) that precedes a VIF.plug.
  let fullPass = true;
  let lastCfgText = '';
  let lastText: { cfg: Desired; text: string } | undefined;
  let lastFullState: HostReport | undefined;

  /** Sends a report; `always`: even when it says what the last one said (the master asked). */
  const send = async (gen: number, state: AgentReport, always: boolean): Promise<void> => {
    const text = JSON.stringify(state);
    if (reportUnsupported || (!always && text === lastState)) return;
    // Calls to the master keep failing: the report waits until it answers again. (Not while it
    // is merely silent: a long poll hung through a rolled-back management change must not stop
    // the report that follows; a report not answered is given up after REPORT_TIMEOUT_MS.)
    if (masterFailing()) { needReport = true; return; }
    // A touch that arrived while this pass ran is not answered by it (its generation is older
    // than the touch): keep the request for the next pass, which the touch has kicked.
    if (gen === generation) needReport = false;
    try {
      await withTimeout(client.call(REPORT_METHOD, hostRef, gen, state), REPORT_TIMEOUT_MS, 'the master did not answer the report');
      reportedGen = Math.max(reportedGen, gen);
      lastState = text;
      opts.onReport?.(gen, state);
    } catch (e) {
      const code = codeOf(e) ?? String(e);
      if (/MESSAGE_METHOD_UNKNOWN|UNKNOWN_METHOD/.test(code)) { reportUnsupported = true; log('master has no host.report_network_state; not reporting'); }
      else { needReport = true; log(`report failed: ${(e as Error).message}`); }
    }
  };

  /**
   * The switch is down: nothing is realised or changed; the master hears which of the host's
   * PIFs and VIFs are not realised, at the generation last realised (not a newer one).
   */
  const reportUnavailable = async (): Promise<void> => {
    if (!pool || !hostRef) return;
    const cfg = compile(pool, keptMtus);
    const why = `Open vSwitch: ${health?.reason ?? 'down'}`;
    const unrealised = Object.fromEntries([...cfg.pifs.map((p) => p.ref), ...cfg.doc.vifs.map((v) => v.owner)].map((r) => [r, why]));
    const base = lastFullState ?? emptyReport(backend.kind);
    await send(Math.max(0, reportedGen), { ...base, unrealised }, false);
    fullPass = true; // whatever was realised may be gone: check everything when the switch is back
  };
  const guard = new ManagementGuard();
  // Emergency mode and reset-networking: a local override of the management configuration,
  // kept until the master has recorded it (see emergency.ts).
  let override: Override | undefined;
  let failingSince: number | undefined;
  let lastContact = clock.now();
  let recording = false;
  const masterFailing = (): boolean => failingSince !== undefined && clock.now() - failingSince >= EMERGENCY_AFTER_MS;
  /** Waiting for a pass that starts after them to be applied (its report may take longer). */
  let passes = 0;
  let realised: { after: number; done: () => void }[] = [];
  const settle = (pass: number): void => {
    for (const w of realised.filter((x) => x.after < pass)) w.done();
    realised = realised.filter((x) => x.after >= pass);
  };

  /** One pass; false when it only reported (no observe, no apply). */
  const doReconcile = async (): Promise<boolean> => {
    const pass = ++passes;
    if (health && !health.up) { await reportUnavailable(); return false; }
    // Records without this host (restored from another dump, the host re-created) are never
    // compiled: they would tear down everything; the events loop resyncs under the new ref.
    if (pool && hostRef && !pool.host[hostRef]) return false;
    const fromRecords = pool !== undefined && hostRef !== '';
    // An override (emergency mode, reset-networking) is realised instead of the records' management.
    const view = pool && override ? overridePool(pool, hostRef, override) : pool;
    if (pool && hostRef !== '') keptMtus = plugMtus(keptMtus, pool, hostRef, replica?.where('PIF', 'host', hostRef));
    const fromView: Desired | undefined = view && hostRef !== '' ? compile(view, keptMtus) : undefined;
    const compiled = fromView && hypervisor ? hypervisor.shape(fromView) : fromView ?? cachedCfg;
    const dhcp = opts.dhcp;
    const cfg = compiled && dhcp ? withLeases(compiled, (d) => dhcp.lease(d)) : compiled;
    if (!cfg) return false;
    const gen = generation;
    // The same compiled object as the last pass's (the compiler's memo; compiled configurations
    // are never changed in place) has the same text: not written again.
    const cfgText = cfg === lastText?.cfg ? lastText.text : JSON.stringify(cfg);
    lastText = { cfg, text: cfgText };
    if (!fromRecords) {
      // Realising the local copy: no report (the master is not reached yet).
      if (cacheRealised && !fullPass) return false;
      fullPass = false;
      const r = await reconcile(cfg, backend, guests, log);
      lastResult = r;
      dhcp?.ensure(dhcpDevices(cfg));
      for (const [ref, m] of Object.entries(r.errors)) log(`error ${ref}: ${m}`);
      if (!cacheRealised) log('realised the local copy of the host configuration (the master is not reached yet)');
      cacheRealised = true;
      return true;
    }
    let state: HostReport;
    const full = fullPass || !lastFullState || cfgText !== lastCfgText || Object.keys(lastResult?.errors ?? {}).length > 0;
    if (full) {
      fullPass = false; // drift noticed from here on asks for another full pass
      // This host's PIFs from the replica's index (an override's view has the same PIFs, changed).
      const hostPifs = replica ? [...replica.where('PIF', 'host', hostRef)] : [];
      const mgmtPifs = new Set(hostPifs.filter((ref) => view?.PIF[ref]?.management === true));
      // Clients of interfaces this pass may remove release their lease while they still can.
      await opts.dhcp?.retain(dhcpDevices(cfg));
      // An override is the operator's, made because the master is out of reach: not confirmed.
      const g = await guardedPass({ cfg, mgmtPifs, guard, hooks: override ? undefined : opts.confirm,
        run: (c) => reconcile(c, backend, guests, log, () => (pool ? vmsElsewhere(pool, hostRef) : [])), log, changed: () => client.resetConnections?.() });
      const r = g.result;
      lastResult = r;
      settle(pass);
      opts.dhcp?.ensure(dhcpDevices(g.applied));
      opts.resolver?.write(g.applied.doc.dns);
      for (const [ref, m] of Object.entries(r.errors)) log(`error ${ref}: ${m}`);
      await hypervisor?.afterPass(cfg, r);
      state = buildReport(g.applied, r.state, r.errors, backend.kind, await backend.nics());
      if (hypervisor) state.guests = hypervisor.report();
      const nets = await guestNetworks(g.applied, guests);
      if (nets) state.guest_networks = nets;
      if (g.rollback) state.rollback = g.rollback;
      lastCfgText = cfgText;
      lastFullState = state;
      // The copy kept is what is in force: after a rollback, the previous configuration.
      const appliedText = g.applied === cfg ? cfgText : JSON.stringify(g.applied);
      if (appliedText !== savedText) {
        try {
          opts.cache?.save({ hostUuid: g.applied.doc.host, hostRef, generation: gen, config: g.applied });
          savedText = appliedText;
        } catch (e) { log(`local copy of the host configuration not saved: ${(e as Error).message}`); }
      }
      cachedCfg = g.applied;
    } else state = lastFullState!;
    // Report what the master asked about (needReport), and anything observed that changed on its
    // own (a cable pulled: carrier, Bond.links_up) even without a new generation.
    await send(gen, state, needReport);
    return full;
  };

  // Coalescing: a change after a quiet spell is reconciled at once (a lone VIF.plug waits for
  // nothing); changes that keep coming within debounceMs of the last pass wait that long, so
  // a burst is realised in few passes.
  let lastPassEnd = -Infinity;
  const loop = async () => {
    while (dirty && !stopped) {
      dirty = false;
      const debounce = opts.debounceMs ?? 20;
      if (clock.now() - lastPassEnd < debounce) await clock.sleep(debounce);
      else await Promise.resolve();
      try { if (await doReconcile()) lastPassEnd = clock.now(); }
      catch (e) { lastPassEnd = clock.now(); log(`reconcile failed: ${(e as Error).stack ?? String(e)}`); }
      finally { settle(passes); } // a pass that applied nothing (failed, switch down) ends the wait too
    }
  };
  const kick = (): Promise<void> => {
    dirty = true;
    if (!running) running = loop().finally(() => { running = undefined; if (dirty && !stopped) void kick(); });
    return running;
  };
  const kickFull = (): Promise<void> => { fullPass = true; return kick(); };
  hypervisor?.attach({ records: () => pool, hostRef: () => hostRef, kick: () => { void kickFull(); }, markKernelDirty: (devs) => backend.markKernelDirty?.(devs) });
  const haveConfig = (): boolean => pool !== undefined || cachedCfg !== undefined;

  const retry = opts.retry ?? MASTER_RETRY;
  let masterChanges = client.masterChanges ?? 0;
  const events = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        if ((client.masterChanges ?? 0) !== masterChanges) {
          // Another master (the host joined or left a pool): its records, generations and refs
          // are its own. Sync from scratch and report to it; the replica is kept until then.
          masterChanges = client.masterChanges ?? 0;
          token = '';
          reportedGen = -1;
          lastState = '';
        }
        // The ref is asked again at each full sync: the master may be another one now (restored).
        if (token === '' && !opts.hostRef) hostRef = str(await client.call('host.get_by_uuid', opts.hostUuid) as string);
        const res = await client.call('event.from', [...POOL_CLASSES], token, token === '' ? 0 : (opts.eventTimeoutS ?? 30)) as
          { events?: EventRec[]; token?: string };
        if (stopped) return;
        if (failures > 0) log(`master reached again after ${failures} failed call${failures === 1 ? '' : 's'}`);
        failures = 0;
        failingSince = undefined;
        lastContact = clock.now();
        if (override && !recording) recordOverride();
        const evs = res.events ?? [];
        let changed: boolean;
        if (token === '') { replica = new IndexedPool(); pool = replica.records; applyEvents(replica, evs); changed = true; fullPass = true; }
        else changed = applyEvents(replica!, evs);
        token = res.token ?? token;
        generation = generationOf(token);
        if (!opts.hostRef && !pool!.host[hostRef]) {
          log(`host ${hostRef} is no longer in the records: looking this host up again (full sync)`);
          token = '';
          continue;
        }
        // A change is acknowledged with a report; so is a touch of this host's own record (the
        // master asking for a fresh look, e.g. PIF.scan), even though it changes nothing. Other
        // writes that change nothing get no answer, so a master echoing reports cannot loop.
        if (evs.some((e) => e.ref === hostRef)) fullPass = true;
        if (changed || evs.some((e) => e.ref === hostRef)) needReport = true;
        if (changed || needReport) void kick();
      } catch (e) {
        if (stopped) return;
        failures++;
        failingSince ??= clock.now();
        const code = codeOf(e);
        // A restarted master knows neither the session nor the token: log in again (the link does
        // it on the next call) and start over with a full sync. The replica is kept, and replaced
        // when the new batch arrives: nothing is torn down meanwhile.
        if (code === 'SESSION_INVALID' || code === 'EVENTS_LOST' || failures >= 3) token = '';
        const wait = retryDelay(failures, retry);
        // Every failure of a short outage is logged; a long one about once a minute.
        if (failures <= 6 || failures % 12 === 0) log(`master call failed (${failures}${failures > 1 ? ` in a row, next try in ${wait} ms` : ''}): ${(e as Error).message}`);
        await clock.sleep(wait);
      }
    }
  };
  if (health && !health.up) log(`Open vSwitch is down (${health.reason}): not realising until it is back`);
  if (cachedCfg) void kick();
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
    const applied = new Promise<void>((r) => realised.push({ after: passes, done: r }));
    void kickFull();
    await applied;
    if (!local.inEmergency() && !recording) recordOverride(); // the master is reachable: record it now
  };
  const local: LocalHost = {
    // Calls to the master that fail for a while, or that hang (a master that does not answer):
    // a long poll returns within its timeout, so no answer for that long and more is an outage.
    inEmergency: () => masterFailing()
      || clock.now() - lastContact >= (opts.eventTimeoutS ?? 30) * 1000 + EMERGENCY_AFTER_MS,
    master: () => (typeof opts.masterAddress === 'function' ? opts.masterAddress() : opts.masterAddress ?? ''),
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
  // The periodic pass doubles as the heartbeat: its report goes out even when nothing changed.
  const timer = setInterval(() => { if (haveConfig()) { needReport = true; void kickFull(); } }, opts.resyncMs ?? AGENT_HEARTBEAT_MS);
  // The guests' addresses change inside them, where no event says so: looked at now and then,
  // and a change is reported (tools waiting for a guest's IP read VM_guest_metrics.networks).
  const guestPoll = guests?.addresses ? setInterval(() => {
    const cfg = cachedCfg;
    if (!cfg || !lastFullState || running) return;
    void guestNetworks(cfg, guests).then((nets) => {
      if (nets && JSON.stringify(nets) !== JSON.stringify(lastFullState?.guest_networks ?? {})) void kickFull();
    }).catch((e: unknown) => log(`guest addresses: ${(e as Error).message}`));
  }, opts.guestPollMs ?? GUEST_POLL_MS) : undefined;
  const unsub = backend.onChange(() => { if (haveConfig()) void kickFull(); });
  const unsubDhcp = opts.dhcp?.onChange(() => { if (haveConfig()) void kickFull(); });
  const unsubHealth = health?.onChange((up) => {
    log(up ? 'Open vSwitch is back: checking everything' : `Open vSwitch is down (${health.reason}): not realising until it is back`);
    if (haveConfig()) void kickFull();
  });

  return {
    get hostRef() { return hostRef; },
    get generation() { return reportedGen < 0 ? 0 : reportedGen; },
    local,
    async reconcileNow() {
      if (!haveConfig()) return undefined;
      await kickFull();
      while (running) await running;
      return lastResult;
    },
    async stop() {
      stopped = true;
      hypervisor?.close();
      clearInterval(timer);
      if (guestPoll) clearInterval(guestPoll);
      unsub();
      unsubHealth?.();
      unsubDhcp?.();
      while (running) await running;
      void eventsDone; // a pending long poll ends on its own; its result is ignored
    },
  };
}
