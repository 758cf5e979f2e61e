// The real switch under the OVS driver: Open vSwitch through our OVSDB client (one session, a
// monitor replica of Bridge/Port/Interface), iproute2 for links, addresses and routes, and
// ovs-ofctl for the locking rules.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { OvsdbClient, type Monitor } from '../ovsdb/index.js';
import { Ip } from '../linux/ip.js';
import { planMove, readL3, runBatch, type L3State } from '../linux/l3.js';
import type { NicOrder } from '../linux/nic-order.js';
import { withoutRefusedNics, type RefuseNics } from '../linux/takeover.js';
import { NicInventory } from '../linux/nics.js';
import { KernelWatch, type KernelSnapshot } from '../linux/kernel-watch.js';
import { parseKernelLink, type KernelLink } from '../linux/kernel.js';
import { applyOvs } from './apply.js';
import { countByInPort, lockFlows, LOCK_COOKIE } from './locking.js';
import { cookieMatch, formatFlows } from './flows.js';
import { isIfName } from '../../common/net-syntax.js';
import type { Nic } from '../contract.js';
import {
  actionOwner, describeAction, isOvsAction, type Action, type ApplyResult, type OvsSwitch,
  type LockSpec, type ObserveOptions, type ObservedState, type OvsAction, type StrMap,
} from './model.js';
import { MONITORED, observeOvs } from './observe.js';

export interface OvsBackendOptions {
  /** OVSDB endpoint, e.g. `unix:/run/openvswitch/db.sock`. */
  ovsdb: string;
  /** The host's network namespace (links, addresses and routes are managed there). */
  netns?: string;
  /** 'auto' (default): kernel datapath when the openvswitch module is loaded, else userspace. */
  datapath?: 'auto' | 'system' | 'netdev';
  /** Bound on waiting for ovs-vswitchd to apply a transaction (default 15000 ms). */
  applyTimeoutMs?: number;
  /** Label for the comment op of each transaction. */
  label?: string;
  /** ovs-vswitchd's run directory (bridge `.mgmt` sockets); default: the db socket's directory. */
  rundir?: string;
  /**
   * NICs that must not be taken over (the distribution's network configuration manages them):
   * NIC → message. Asked before a NIC or bond port is added; its owner's actions are skipped.
   */
  refuseNics?: RefuseNics;
  /** The host's persisted NIC order (positions); without it NICs have none. */
  nicOrder?: NicOrder;
}

const execP = promisify(execFile);

export function detectDatapath(pref: OvsBackendOptions['datapath'] = 'auto'): string {
  if (pref === 'system') return '';
  if (pref === 'netdev') return 'netdev';
  return existsSync('/sys/module/openvswitch') ? '' : 'netdev';
}

export class OvsSystemSwitch implements OvsSwitch {
  /** OVSDB write transactions performed by apply (tests count them). */
  transactions = 0;
  readonly ip: Ip;

  private constructor(
    readonly client: OvsdbClient,
    private readonly monitor: Monitor,
    readonly datapathType: string,
    private readonly opts: OvsBackendOptions,
  ) {
    this.ip = new Ip(opts.netns);
    this.kernelWatch = new KernelWatch(opts.netns, parseKernelLink);
    this.nicInventory = new NicInventory(this.ip, opts.nicOrder);
  }

  static async open(opts: OvsBackendOptions): Promise<OvsSystemSwitch> {
    const client = await OvsdbClient.connect(opts.ovsdb);
    try {
      const monitor = await client.monitor('Open_vSwitch', MONITORED);
      return new OvsSystemSwitch(client, monitor, detectDatapath(opts.datapath), opts);
    } catch (e) {
      client.close();
      throw e;
    }
  }

  private tables() {
    const r = this.monitor.replica;
    return { Bridge: r.rows('Bridge'), Port: r.rows('Port'), Interface: r.rows('Interface') };
  }

  /** The last kernel view read (links, addresses, default route). */
  private kernel?: KernelSnapshot<KernelLink>;

  /** Links, addresses and the default route, kept by the kernel's notifications (kernel-watch.ts). */
  readonly kernelWatch: KernelWatch<KernelLink>;

  markKernelDirty(names: Iterable<string>): void { this.kernelWatch.markDirty(names); }

  /**
   * The switch from the monitor replica and the kernel from the kernel watch (what changed
   * since is read again). With `kernel: false` the kernel part of the previous observation is
   * reused (the caller knows nothing it did since can have changed it).
   */
  async observe(opts: ObserveOptions = {}): Promise<ObservedState> {
    await this.monitor.synced();
    const sw = observeOvs(this.tables());
    if (!(opts.kernel === false && this.kernel)) {
      this.kernelWatch.markDirty((opts.expected ?? []).filter((n) => !this.kernelWatch.has(n)));
      this.kernel = await this.kernelWatch.look();
    }
    const k = this.kernel;
    return { ...sw, links: new Map([...k.links].map(([n, l]) => [n, l.obs])), ...(k.defaultRoute ? { defaultRoute: { ...k.defaultRoute } } : {}) };
  }

  async apply(actions: Action[]): Promise<ApplyResult> {
    const errors: StrMap = {};
    let transactions = 0;
    // A NIC the distribution configures is left alone with everything of its owner (takeover.ts).
    const taking = actions.flatMap((a) => (a.kind === 'add-port' && (a.port.role === 'nic' || a.port.role === 'bond')
      ? a.port.interfaces.map((i) => ({ nic: i.name, owner: a.port.owner })) : []));
    const allowed = await withoutRefusedNics(actions, taking, this.opts.refuseNics, actionOwner);
    Object.assign(errors, allowed.errors);
    actions = allowed.actions;
    // What a NIC holds is read before the switch takes it over: from then until the move the
    // host's address is not reached, so the move follows the switch's work at once, first.
    const moves = actions.filter((a) => a.kind === 'move-l3');
    let l3: L3State | undefined = moves.length > 0 ? await readL3(this.opts.netns) : undefined;
    const sw = actions.filter(isOvsAction) as OvsAction[];
    if (sw.length > 0) {
      const r = await applyOvs(this.client, sw, { comment: this.opts.label ?? 'xcpnet-agent', timeoutMs: this.opts.applyTimeoutMs ?? 15000 });
      Object.assign(errors, r.errors);
      transactions += r.transactions;
      this.transactions += r.transactions;
    }
    for (const a of [...moves, ...actions.filter((x) => !isOvsAction(x) && x.kind !== 'move-l3')]) {
      try {
        switch (a.kind) {
          case 'move-l3': await runBatch(this.opts.netns, planMove(l3 ??= await readL3(this.opts.netns), a.from, a.to)); l3 = undefined; break;
          case 'link-up': await this.ip.setUp(a.dev); break;
          case 'link-down': await this.ip.setDown(a.dev); break;
          case 'addr-add': await this.ip.addAddr(a.dev, a.cidr); break;
          case 'addr-del': await this.ip.delAddr(a.dev, a.cidr); break;
          case 'route-default': await this.ip.replaceDefaultRoute(a.via, a.dev); break;
        }
      } catch (e) {
        const owner = actionOwner(a);
        if (owner) errors[owner] ??= `${describeAction(a)}: ${(e as Error).message}`;
      }
    }
    return { errors, transactions };
  }

  private readonly nicInventory: NicInventory;

  /** The NICs: discovered again only when the NIC links of the last observation changed (nics.ts). */
  nics(): Promise<Nic[]> {
    return this.nicInventory.nics(this.kernel ? [...this.kernel.links.values()].map((l) => l.raw) : undefined);
  }

  private readonly lockCache = new Map<string, { bridge: string; ofport: number; key: string }>();

  /** ovs-vswitchd's run directory: the option, else the db socket's directory, else the system's. */
  private get rundir(): string {
    return this.opts.rundir ?? (this.opts.ovsdb.startsWith('unix:') ? dirname(this.opts.ovsdb.slice(5)) : '/var/run/openvswitch');
  }

  /** The bridge's management socket; the name is a path component, so it must be an interface name. */
  private ofctlTarget(bridge: string): string {
    if (!isIfName(bridge)) throw new Error(`invalid bridge name ${JSON.stringify(bridge)}`);
    return `unix:${this.rundir}/${bridge}.mgmt`;
  }

  private async ofctl(args: string[], input?: string): Promise<string> {
    if (input === undefined) return (await execP('ovs-ofctl', args, { timeout: 15000 })).stdout;
    return new Promise((resolve, reject) => {
      const p = spawn('ovs-ofctl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '', err = '';
      const t = setTimeout(() => p.kill('SIGKILL'), 15000);
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { err += d; });
      p.on('error', reject);
      p.on('close', (code) => { clearTimeout(t); code === 0 ? resolve(out) : reject(new Error(`ovs-ofctl ${args[0]}: ${err.trim()}`)); });
      p.stdin.end(input);
    });
  }

  /**
   * Waits until ovs-vswitchd has revalidated its datapath flows, so changed OpenFlow rules (VIF
   * locking) are in force — not just installed — when the agent reports. Best effort.
   */
  private async revalidate(): Promise<void> {
    const dir = this.rundir;
    const ctl = join(dir, 'ovs-vswitchd.ctl');
    const target = existsSync(ctl) ? ctl : 'ovs-vswitchd';
    await execP('ovs-appctl', ['-t', target, 'revalidator/wait'], { timeout: 5000, env: { ...process.env, OVS_RUNDIR: dir } }).catch(() => undefined);
  }

  async applyLocking(locked: LockSpec[]): Promise<StrMap> {
    const errors = await this.applyLockingRules(locked);
    if (this.flowsChanged) { this.flowsChanged = false; await this.revalidate(); }
    return errors;
  }

  private flowsChanged = false;

  private async applyLockingRules(locked: LockSpec[]): Promise<StrMap> {
    const errors: StrMap = {};
    const ifs = this.tables().Interface;
    const ofportOf = (n: string) => { const o = ifs.find((i) => i.name === n)?.ofport; return typeof o === 'number' ? o : -1; };
    const bridges = new Set([...locked.map((l) => l.bridge), ...[...this.lockCache.values()].map((c) => c.bridge)]);
    if (bridges.size === 0) return errors;
    const counts = new Map<string, Map<number, number>>();
    for (const br of bridges) {
      try { counts.set(br, countByInPort(await this.ofctl(['--no-names', 'dump-flows', this.ofctlTarget(br), cookieMatch(LOCK_COOKIE)]))); }
      catch { counts.set(br, new Map()); }
    }
    const del = async (br: string, ofport: number): Promise<void> => {
      this.flowsChanged = true;
      try { await this.ofctl(['del-flows', this.ofctlTarget(br), cookieMatch(LOCK_COOKIE, ofport)]); } catch { /* gone already */ }
    };
    const wanted = new Map<string, Set<number>>();
    for (const l of locked) {
      const ofport = ofportOf(l.port);
      if (ofport <= 0) continue;
      if (!wanted.has(l.bridge)) wanted.set(l.bridge, new Set());
      wanted.get(l.bridge)!.add(ofport);
      const flows = lockFlows(l, ofport);
      const c = this.lockCache.get(l.port);
      try {
        // Written (and checked against the flow grammar) before anything is removed.
        const text = formatFlows(flows);
        if (c && c.key === text && c.bridge === l.bridge && counts.get(l.bridge)?.get(ofport) === flows.length) continue;
        if (c && (c.ofport !== ofport || c.bridge !== l.bridge)) await del(c.bridge, c.ofport);
        await del(l.bridge, ofport);
        try {
          await this.ofctl(['add-flows', this.ofctlTarget(l.bridge), '-'], text);
        } catch (e) {
          // Fail closed: a locked port whose rules could not go in passes nothing.
          await this.ofctl(['add-flows', this.ofctlTarget(l.bridge), '-'], formatFlows(flows.slice(-1))).catch(() => '');
          throw e;
        }
        this.lockCache.set(l.port, { bridge: l.bridge, ofport, key: text });
      } catch (e) {
        errors[l.owner] = `locking rules on ${l.port}: ${(e as Error).message}`;
      }
    }
    // Rules of ports no longer locked (also those found after a restart) are removed.
    for (const [port] of [...this.lockCache]) {
      if (!locked.some((l) => l.port === port)) this.lockCache.delete(port);
    }
    for (const [br, m] of counts) {
      for (const ofport of m.keys()) if (!wanted.get(br)?.has(ofport)) await del(br, ofport);
    }
    return errors;
  }

  onChange(cb: () => void): () => void {
    return this.monitor.onChange(() => cb());
  }

  async close(): Promise<void> {
    this.kernelWatch.close();
    try { await this.monitor.cancel(); } catch { /* closing anyway */ }
    this.client.close();
  }
}
