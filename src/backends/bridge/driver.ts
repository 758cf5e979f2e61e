// The Linux-bridge driver (XenServer's "bridge" network backend): plans with plan.ts against the
// kernel's links (kept by the kernel's notifications: linux/kernel-watch.ts), applies each
// operation as one iproute2 command (argv only, checked by cmd.ts), enforces VIF locking with
// nftables, and observes the host in the contract's terms.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HostDoc, HostDriver, HostState, Nic, RealiseResult, StrMap } from '../contract.js';
import { Ip, parseIpLink, type IpLink } from '../linux/ip.js';
import { KernelWatch } from '../linux/kernel-watch.js';
import { planMove, readL3, runBatch } from '../linux/l3.js';
import type { NicOrder } from '../linux/nic-order.js';
import { NicInventory } from '../linux/nics.js';
import { withoutRefusedNics, type RefuseNics } from '../linux/takeover.js';
import { argvOf } from './cmd.js';
import { lockTable, lockTransaction, NFT_TABLE, observedTable, type LockedPort } from './locking.js';
import { describeOp, hostState, linksTouched, parseKLink, type KernelState, type KLink } from './model.js';
import { expectedLinks, planBridge } from './plan.js';

const execP = promisify(execFile);

export interface BridgeDriverOptions {
  /** The host's network namespace (the lab); undefined: this process's. */
  netns?: string;
  /** This host's uuid: the marker on what the driver makes. */
  host: string;
  /** NICs that must not be taken over (the distribution manages them): see linux/takeover.ts. */
  refuseNics?: RefuseNics;
  /** The host's persisted NIC order (positions); without it NICs have none. */
  nicOrder?: NicOrder;
}

/** Whether `dev` is a NIC of the document's uplinks (a bridge's NIC or a bond member). */
function takesOver(doc: HostDoc, dev: string): boolean {
  return doc.bridges.some((b) => b.uplink !== undefined && (b.uplink.kind === 'nic' ? b.uplink.device === dev : b.uplink.members.includes(dev)));
}

export class BridgeDriver implements HostDriver {
  readonly kind = 'bridge' as const;
  /** Commands run by realise (tests count them). */
  commands = 0;
  private readonly ip: Ip;
  /** Links, addresses and the default route, kept by the kernel's notifications: as compared, and as iproute2 gave them (for the NICs). */
  readonly kernelWatch: KernelWatch<{ k: KLink; raw: IpLink }>;
  private lastLinks?: IpLink[];
  private readonly nicInventory: NicInventory;

  private constructor(private readonly opts: BridgeDriverOptions) {
    this.ip = new Ip(opts.netns);
    this.kernelWatch = new KernelWatch(opts.netns, (r) => ({ k: parseKLink(r), raw: Object.freeze(parseIpLink(r)) }));
    this.nicInventory = new NicInventory(this.ip, opts.nicOrder);
  }

  static async open(opts: BridgeDriverOptions): Promise<BridgeDriver> {
    const d = new BridgeDriver(opts);
    await d.kernel(); // fails early when iproute2 or the namespace is missing
    return d;
  }

  private async kernel(): Promise<KernelState> {
    const v = await this.kernelWatch.look();
    this.lastLinks = [...v.links.values()].map((l) => l.raw);
    return { links: new Map([...v.links].map(([n, l]) => [n, l.k])), ...(v.defaultRoute ? { defaultRoute: v.defaultRoute } : {}) };
  }

  markKernelDirty(names: Iterable<string>): void { this.kernelWatch.markDirty(names); }

  async realise(doc: HostDoc): Promise<RealiseResult> {
    // A link the document names that the view lacks may be new, its notification still on the way.
    this.kernelWatch.markDirty(expectedLinks(doc).filter((n) => !this.kernelWatch.has(n)));
    const before = await this.kernel();
    const plan = planBridge(doc, before);
    // NICs newly put into a bridge or bond: a refused one leaves its owner's operations undone.
    const taking = plan.ops.flatMap((o) => (o.op === 'master' && takesOver(doc, o.name) ? [{ nic: o.name, owner: o.owner }] : []));
    const allowed = await withoutRefusedNics(plan.ops, taking, this.opts.refuseNics, (o) => o.owner);
    const errors: StrMap = { ...plan.errors, ...allowed.errors };
    let writes = 0;
    // What a NIC holds is read before it goes into the bridge (from then on it is not reached).
    let l3 = allowed.actions.some((o) => o.op === 'move-l3') ? await readL3(this.opts.netns) : undefined;
    for (const o of allowed.actions) {
      try {
        writes++;
        if (o.op === 'move-l3') { await runBatch(this.opts.netns, planMove(l3 ??= await readL3(this.opts.netns), o.name, o.to)); l3 = undefined; }
        else await this.ip.run(...argvOf(o));
      } catch (e) {
        if (o.owner) errors[o.owner] ??= `${describeOp(o)}: ${(e as Error).message}`;
      }
    }
    this.commands += writes;
    this.kernelWatch.markDirty(linksTouched(allowed.actions, before));
    const locked: LockedPort[] = doc.vifs.filter((v) => v.locking === 'locked' && v.bridge !== undefined)
      .map((v) => ({ owner: v.owner, port: v.name, mac: v.mac, ipv4: v.ipv4_allowed, ipv6: v.ipv6_allowed }));
    try {
      if (await this.applyLocking(locked)) writes++;
    } catch (e) {
      // Fail closed is not possible without the table: every locked VIF is in error.
      for (const l of locked) errors[l.owner] ??= `locking rules: ${(e as Error).message}`;
    }
    return { changes: allowed.actions.map(describeOp), errors, writes, state: await this.observe() };
  }

  /** Replaces the nftables table when its rules are not the wanted ones; true when it wrote. */
  private async applyLocking(locked: LockedPort[]): Promise<boolean> {
    const want = lockTable(locked);
    const have = await this.nft(['-j', 'list', 'table', 'bridge', NFT_TABLE]).then(observedTable, () => ({ fingerprints: new Set<string>(), count: 0 }));
    const same = want.rules.length === have.count && (have.count === 0 || (have.fingerprints.size === 1 && have.fingerprints.has(`xcpnet ${want.fingerprint}`)));
    if (same) return false;
    // nft reads a file (it cannot open a socket as /dev/stdin): a private one, removed at once.
    const dir = await mkdtemp(join(tmpdir(), 'xcpnet-nft-'));
    try {
      const file = join(dir, 'lock.json');
      await writeFile(file, JSON.stringify(lockTransaction(want)), { mode: 0o600 });
      await this.nft(['-j', '-f', file]);
    } finally { await rm(dir, { recursive: true, force: true }); }
    return true;
  }

  private async nft(args: string[]): Promise<string> {
    const argv = this.opts.netns ? ['netns', 'exec', this.opts.netns, 'nft', ...args] : args;
    try {
      return (await execP(this.opts.netns ? 'ip' : 'nft', argv, { timeout: 15000 })).stdout;
    } catch (e) {
      throw new Error(`nft: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
    }
  }

  async observe(): Promise<HostState> { return hostState(this.opts.host, await this.kernel()); }

  /** The NICs: discovered again only when the NIC links of the last look changed (nics.ts). */
  nics(): Promise<Nic[]> { return this.nicInventory.nics(this.lastLinks); }

  /** Link, address and route changes in the namespace (the kernel watch's monitor) wake the agent. */
  onChange(cb: () => void): () => void { return this.kernelWatch.onEvent(cb); }

  async close(): Promise<void> { this.kernelWatch.close(); }
}
