// Management changes are committed like a router's "commit confirm": the agent applies the new
// configuration, then must reach the master (or, on the master's own host, the gateway) within
// a bounded window; if it cannot, it puts the previous configuration back and reports the
// change as rolled back, so that a mistyped address, a wrong NIC or a bond over the management
// NIC never leaves a host cut off for good. XCP has no such safety net.
//
// What counts as a management change: anything that changes how the host is reached: the
// management PIF's device and addresses, the default route, and the uplink of the bridge the
// management address is on (its NIC, bond and members, VLAN tag). Pure, with an injected clock.
import type { HostBridge } from '../backends/contract.js';
import type { Rollback } from '../protocol/host-agent.js';
import type { Desired } from './desired.js';

export type { Rollback } from '../protocol/host-agent.js';

/** How long a management change has to prove itself, and how often it tries (ms). */
export const CONFIRM_WINDOW_MS = 20_000;
export const CONFIRM_INTERVAL_MS = 1_000;

const uplinkOf = (b: HostBridge): string => !b.uplink ? ''
  : b.uplink.kind === 'nic' ? `nic ${b.uplink.device}` : `bond ${b.uplink.device} ${b.uplink.mode} ${b.uplink.members.join('+')}`;

/**
 * Pure: the part of a host configuration that decides how the host is reached ('' when no
 * management PIF is realised here). Two configurations with the same key reach the master the
 * same way.
 */
export function managementKey(cfg: Desired, mgmtPifs: ReadonlySet<string>): string {
  const doc = cfg.doc;
  const ips = doc.addresses.filter((i) => mgmtPifs.has(i.owner));
  if (ips.length === 0) return '';
  const byName = new Map(doc.bridges.map((b) => [b.name, b]));
  // The bridges the management addresses are on, and the parents of VLAN bridges among them.
  const names = new Set<string>();
  for (const i of ips) {
    names.add(i.dev);
    const parent = byName.get(i.dev)?.vlan?.parent;
    if (parent !== undefined) names.add(parent);
  }
  const uplinks = [...names].map((n) => {
    const b = byName.get(n);
    return b ? `${n}:${uplinkOf(b)}:${b.vlan ? `${b.vlan.parent}.${b.vlan.tag}` : ''}` : `${n}:`;
  }).sort();
  return JSON.stringify({
    ips: ips.map((i) => `${i.dev} ${i.mode} ${i.addrs.join(',')}`).sort(),
    gateway: doc.gateway ? `${doc.gateway.dev} ${doc.gateway.via}` : '',
    uplinks,
  });
}

/** The NICs a configuration's bridges take over (NIC uplinks and bond members). */
export function takenNics(cfg: Desired): Set<string> {
  return new Set(cfg.doc.bridges.flatMap((b) => !b.uplink ? [] : b.uplink.kind === 'nic' ? [b.uplink.device] : b.uplink.members));
}

export type Decision =
  /** No management change: apply; the result becomes the configuration to fall back to. */
  | { kind: 'apply' }
  /** A management change: apply, then confirm within the window, else roll back to `previous`. */
  | { kind: 'confirm'; previous: Desired }
  /** The change rolled back earlier, still recorded: keep the previous configuration, report again. */
  | { kind: 'hold'; previous: Desired; reason: string; pifs: string[] };

/** The last configuration that reached the master, and the change that was rolled back, if any. */
export class ManagementGuard {
  private good?: { key: string; cfg: Desired };
  private rejected?: { key: string; reason: string; pifs: string[] };

  decide(key: string): Decision {
    if (this.rejected && this.rejected.key === key && this.good) {
      return { kind: 'hold', previous: this.good.cfg, reason: this.rejected.reason, pifs: this.rejected.pifs };
    }
    this.rejected = undefined;
    // Nothing to fall back to yet (the first pass), the same way in, or no management here at
    // all (management disabled): nothing to confirm.
    if (!this.good || key === this.good.key || key === '') return { kind: 'apply' };
    return { kind: 'confirm', previous: this.good.cfg };
  }

  /** The configuration just applied reaches the master (or needed no confirmation). */
  confirmed(key: string, cfg: Desired): void {
    this.good = { key, cfg };
  }

  /** The change with this key cut the host off and was rolled back. */
  rolledBack(key: string, reason: string, pifs: string[]): void {
    this.rejected = { key, reason, pifs };
  }
}

export interface ProbeLoop {
  probe: () => Promise<boolean>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  windowMs?: number;
  intervalMs?: number;
}

/**
 * Tries `probe` until it succeeds or the window is over (a probe bounds its own time); returns
 * whether it succeeded and how long it took. At least one probe runs.
 */
export async function confirmWithin(p: ProbeLoop): Promise<{ ok: boolean; elapsedMs: number; probes: number }> {
  const window = p.windowMs ?? CONFIRM_WINDOW_MS;
  const interval = p.intervalMs ?? CONFIRM_INTERVAL_MS;
  const start = p.now();
  let probes = 0;
  for (;;) {
    const t = p.now();
    probes++;
    if (await p.probe().catch(() => false)) return { ok: true, elapsedMs: p.now() - start, probes };
    if (p.now() - start >= window) return { ok: false, elapsedMs: p.now() - start, probes };
    const wait = Math.max(0, Math.min(interval - (p.now() - t), window - (p.now() - start)));
    await p.sleep(wait);
  }
}

/** What the host side provides to confirm a change (src/backends/linux/management.ts). */
export interface ConfirmHooks {
  /** The host's layer 3 state before a change (opaque here). */
  snapshot(): Promise<unknown>;
  /** Gives `nics` back what they held in `before`. */
  restore(before: unknown, nics: string[]): Promise<void>;
  /** One bounded reachability probe. */
  probe(gateway?: string): Promise<boolean>;
  target(gateway?: string): string;
}

export interface GuardedPass<R> {
  cfg: Desired;
  /** This host's PIFs with management = true in the records. */
  mgmtPifs: ReadonlySet<string>;
  guard: ManagementGuard;
  /** Without hooks (the in-memory host) nothing is confirmed. */
  hooks?: ConfirmHooks;
  /** One reconcile pass of a configuration. */
  run: (cfg: Desired) => Promise<R>;
  log: (m: string) => void;
  /** After a management change (confirmed or rolled back): connections made before may be dead. */
  changed?: () => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  windowMs?: number;
}

/**
 * One pass under the guard: a management change is applied and confirmed, or rolled back (the
 * previous configuration applied again, the NICs it took over given back what they held) and
 * kept rolled back while the records still ask for it. Returns the pass's result, the
 * configuration now in force and, when rolled back, what to report.
 */
export async function guardedPass<R>(p: GuardedPass<R>): Promise<{ result: R; applied: Desired; rollback?: Rollback }> {
  const key = managementKey(p.cfg, p.mgmtPifs);
  const d: Decision = p.hooks ? p.guard.decide(key) : { kind: 'apply' };
  if (d.kind === 'hold') return { result: await p.run(d.previous), applied: d.previous, rollback: { PIFs: d.pifs, reason: d.reason } };
  if (d.kind === 'apply') {
    const result = await p.run(p.cfg);
    p.guard.confirmed(key, p.cfg);
    return { result, applied: p.cfg };
  }
  const hooks = p.hooks;
  if (!hooks) throw new Error('unreachable: a change to confirm without hooks');
  const now = p.now ?? Date.now;
  const sleep = p.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const gateway = p.cfg.doc.gateway?.via;
  const before = await hooks.snapshot();
  const result = await p.run(p.cfg);
  const c = await confirmWithin({ probe: () => hooks.probe(gateway), now, sleep, windowMs: p.windowMs });
  if (c.ok) {
    p.log(`management change confirmed: ${hooks.target(gateway)} reached after ${c.elapsedMs} ms`);
    p.guard.confirmed(key, p.cfg);
    p.changed?.();
    return { result, applied: p.cfg };
  }
  const reason = `management change rolled back: ${hooks.target(gateway)} could not be reached from the new configuration within ${Math.round(c.elapsedMs / 1000)} s`;
  p.log(reason);
  const back = await p.run(d.previous);
  const prevNics = takenNics(d.previous);
  await hooks.restore(before, [...takenNics(p.cfg)].filter((n) => !prevNics.has(n)))
    .catch((e: Error) => p.log(`rollback: giving the NICs their addresses back failed: ${e.message}`));
  const again = await confirmWithin({ probe: () => hooks.probe(d.previous.doc.gateway?.via), now, sleep, windowMs: p.windowMs });
  p.log(again.ok ? `rolled back: ${hooks.target(d.previous.doc.gateway?.via)} reached again after ${again.elapsedMs} ms`
    : `rolled back, but ${hooks.target(d.previous.doc.gateway?.via)} is still unreachable`);
  const pifs = [...p.mgmtPifs].sort();
  p.guard.rolledBack(key, reason, pifs);
  p.changed?.();
  return { result: back, applied: d.previous, rollback: { PIFs: pifs, reason } };
}
