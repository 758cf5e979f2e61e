// The kernel view of a host's namespace, kept by notifications (the I/O edge of kernel-cache.ts).
// A long-lived `ip -o monitor link address route` (iproute2 6.1 has no JSON monitor, and no
// npm package speaks rtnetlink without a native build) says which links changed; a look asks
// only those again, in one batch of the `ip -json -details` helper (ip-batch.ts), and takes the
// rest from the cache (a name the helper resolved before and no longer answers is asked again of
// a fresh one: ip remembers names' indexes for its lifetime). The monitor is supervised: after it starts (and
// again after it dies, prints an error such as lost events, or writes an overlong line) the next
// look is a full dump, taken only once its netlink socket is subscribed, so no change falls
// between the two; a full dump also runs every `fullEveryMs` as a safety net. Both processes are ours and are
// ended by their pid. Links the caller changes itself it marks dirty (markDirty): a look never
// waits on the monitor for those.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { IpBatch } from './ip-batch.js';
import { isNetnsName } from './ip.js';
import { isIfName } from '../../common/net-syntax.js';
import { KernelCache, parseMonitorLine, type DefaultRoute, type LinkRecord, type Pending } from './kernel-cache.js';

export interface KernelWatchOptions {
  /** A full dump at least this often (default 5 minutes). */
  fullEveryMs?: number;
  /** A monitor line longer than this is dropped and the next look is a full dump (default 64 KiB). */
  maxLineBytes?: number;
  /** Bound on the wait for the monitor's subscription (default 5 s); after it the monitor is restarted. */
  subscribeTimeoutMs?: number;
}

export interface KernelSnapshot<L> { links: Map<string, L>; defaultRoute?: DefaultRoute }

/** How many names one `ip` helper may have resolved before it is replaced by a fresh one. */
const HELPER_NAMES = 16384;

/** Whether process `pid` holds a netlink socket subscribed to at least one multicast group. */
async function subscribed(pid: number): Promise<boolean> {
  try {
    const inodes = new Set<string>();
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
      if (m) inodes.add(m[1]!);
    }
    // /proc/PID/net/netlink lists the sockets of the process's namespace: sk Eth Pid Groups … Inode.
    const table = await readFile(`/proc/${pid}/net/netlink`, 'utf8');
    return table.split('\n').slice(1).some((l) => {
      const f = l.trim().split(/\s+/);
      return f.length >= 10 && f[0] !== '' && inodes.has(f[9]!) && !/^0+$/.test(f[3]!);
    });
  } catch { return false; }
}

/**
 * A name that is one word of an `ip -batch` line: an interface name (no blank, no '/', not an
 * option) without the quote, backslash and comment characters the batch reader interprets.
 */
const batchSafe = (n: string): boolean => isIfName(n) && !/["'#\\]/.test(n);

/** Whether an answer line is the loopback's record (the end of a targeted batch). */
function isLoopback(line: string): boolean {
  if (!line.includes('"ifname":"lo"')) return false;
  const a = JSON.parse(line) as LinkRecord[];
  return a.length === 1 && a[0]!.ifname === 'lo';
}

interface Monitor { p: ChildProcessWithoutNullStreams; buf: string; dead: boolean; subscribed: boolean }

export class KernelWatch<L> {
  /** Full dumps and targeted looks done (tests count them). */
  fullDumps = 0;
  targetedLooks = 0;
  /** Helper processes replaced (a name they had resolved no longer answered, or too many names). */
  batchRestarts = 0;
  /** Monitors started (the first and every restart). */
  monitorStarts = 0;
  private readonly cache: KernelCache<L>;
  private readonly batch: IpBatch;
  private monitor?: Monitor;
  private lastFull = 0;
  /** When a dead monitor may be started again, and the pause before that (grows while it fails at once). */
  private restartAt = 0;
  private restartPauseMs = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(private readonly netns: string | undefined, parse: (rec: LinkRecord) => L, private readonly opts: KernelWatchOptions = {}) {
    if (netns !== undefined && !isNetnsName(netns)) throw new Error(`invalid namespace name ${JSON.stringify(netns)}`);
    this.cache = new KernelCache(parse);
    this.batch = new IpBatch(netns, 15000, true);
  }

  /** Links the caller has just changed (or made, or removed): the next look reads them again. */
  markDirty(names: Iterable<string>): void { this.cache.markDirty(names); }

  /** Whether the cache holds a link of that name (no I/O). */
  has(name: string): boolean { return this.cache.has(name); }

  /** Called on every change the monitor reports, and when the monitor dies; returns an unsubscribe. */
  onEvent(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** The view now: what changed since the last look is read again, the rest comes from the cache. */
  look(): Promise<KernelSnapshot<L>> {
    const next = this.queue.then(() => this.lookNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async lookNow(): Promise<KernelSnapshot<L>> {
    if (this.closed) throw new Error('kernel watch closed');
    if (!this.monitor && Date.now() >= this.restartAt) await this.startMonitor();
    if (Date.now() - this.lastFull >= (this.opts.fullEveryMs ?? 300_000)) this.cache.requireFull('periodic');
    let want = this.cache.pending();
    if (!want.full && !want.names.every(batchSafe)) {
      this.cache.requireFull('a link name the batch cannot carry');
      want = this.cache.pending();
    }
    try { await this.read(want); } catch (e) { this.cache.requireFull('look failed'); throw e; }
    // Without a monitor nothing says what changes: every look is a full dump until it runs again.
    if (!this.monitor) this.cache.requireFull('no monitor');
    return this.cache.view();
  }

  private async read(want: Pending): Promise<void> {
    if (want.full) {
      const [addrs, routes] = (await this.batch.run(['addr show', 'route show default'])).map((l) => JSON.parse(l) as LinkRecord[]);
      this.cache.loadFull(addrs!, routes!);
      this.resolved(addrs!);
      this.fullDumps++;
      this.lastFull = Date.now();
    } else if (want.names.length > 0 || want.route) {
      const names = want.names.filter((n) => n !== 'lo');
      const first = await this.readNames(names);
      const answered = new Set(first.links.map((r) => String(r.ifname)));
      // ip remembers the index of each name it resolved for the life of the process: a link
      // removed and made again under its name (a guest's vif back after a migration) reads as
      // gone, a link renamed since as the old name. Such a name, unanswered, is asked again of a
      // fresh helper, which remembers nothing. A name the helper never resolved (a monitor
      // line's `a@peer` reading, a link expected but missing) is simply not there.
      const stale = names.filter((n) => !answered.has(n) && this.helperKnows.has(n));
      let links = first.links;
      if (stale.length > 0) {
        this.restartHelper();
        links = [...links, ...(await this.readNames(stale)).links];
      }
      this.resolved(links);
      this.cache.loadSome([...names, 'lo'], links, first.routes);
      this.targetedLooks++;
    }
  }

  /** Names the running helper resolved; past HELPER_NAMES of them it is replaced (the set stays bounded). */
  private helperKnows = new Set<string>();

  private resolved(records: LinkRecord[]): void {
    for (const r of records) this.helperKnows.add(String(r.ifname));
    if (this.helperKnows.size > HELPER_NAMES) this.restartHelper();
  }

  private restartHelper(): void {
    this.batch.close();
    this.helperKnows = new Set();
    this.batchRestarts++;
  }

  /**
   * The named links and the default route. A name that is gone prints nothing (-force goes on)
   * and one going away may print `[]`, so the answer is framed: the route first (it always
   * answers), the loopback last (every namespace has one; it is read again with the rest).
   */
  private async readNames(names: string[]): Promise<{ routes: LinkRecord[]; links: LinkRecord[] }> {
    const cmds = ['route show default', ...names.map((n) => `addr show dev ${n}`), 'addr show dev lo'];
    const lines = await this.batch.runUntil(cmds, (ls) => {
      const i = ls.findIndex((l, k) => k > 0 && isLoopback(l));
      return i > 0 ? i + 1 : undefined;
    });
    const [routes, ...links] = lines.map((l) => JSON.parse(l) as LinkRecord[]);
    return { routes: routes!, links: links.flat() };
  }

  private async startMonitor(): Promise<void> {
    const argv = [...(this.netns ? ['-n', this.netns] : []), '-o', 'monitor', 'link', 'address', 'route'];
    const p = spawn('ip', argv, { stdio: ['ignore', 'pipe', 'pipe'] }) as unknown as ChildProcessWithoutNullStreams;
    const m: Monitor = { p, buf: '', dead: false, subscribed: false };
    this.monitor = m;
    this.monitorStarts++;
    this.cache.requireFull('monitor started');
    const maxLine = this.opts.maxLineBytes ?? 65536;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      m.buf += d;
      for (let i = m.buf.indexOf('\n'); i >= 0; i = m.buf.indexOf('\n')) {
        const ev = parseMonitorLine(m.buf.slice(0, i));
        m.buf = m.buf.slice(i + 1);
        if (ev) this.cache.apply(ev);
      }
      if (m.buf.length > maxLine) { m.buf = ''; this.cache.requireFull('overlong monitor line'); }
      this.wake();
    });
    // Anything on stderr (e.g. "No buffer space available": events were lost) means the cache may be behind.
    p.stderr.on('data', () => { this.cache.requireFull('monitor error'); this.wake(); });
    const die = () => {
      if (m.dead) return;
      m.dead = true;
      this.pauseRestart(m.subscribed);
      if (this.monitor === m) this.monitor = undefined;
      this.cache.requireFull('monitor ended');
      if (!this.closed) this.wake();
    };
    p.on('error', die);
    p.on('close', die);
    p.unref();
    for (const s of [p.stdout, p.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    // The dump that follows must not precede the subscription, or a change between them is lost.
    const until = Date.now() + (this.opts.subscribeTimeoutMs ?? 5000);
    while (!m.dead && p.pid !== undefined && !(await subscribed(p.pid))) {
      if (Date.now() > until) { this.stopMonitor(); this.pauseRestart(false); return; }
      await delay(2);
    }
    m.subscribed = !m.dead;
  }

  /**
   * A monitor that never got going (e.g. its namespace is gone) is started again only after a
   * growing pause (1 s to 30 s), so a wake on its death cannot turn into a loop of processes.
   */
  private pauseRestart(wasSubscribed: boolean): void {
    this.restartPauseMs = wasSubscribed ? 0 : Math.min(Math.max(this.restartPauseMs * 2, 1000), 30_000);
    this.restartAt = Date.now() + this.restartPauseMs;
  }

  private wake(): void { for (const l of this.listeners) l(); }

  private stopMonitor(): void {
    const m = this.monitor;
    this.monitor = undefined;
    if (m && !m.dead) { m.dead = true; m.p.kill('SIGTERM'); }
  }

  /** Ends the monitor (for tests: as if it had died). */
  killMonitor(): void { this.monitor?.p.kill('SIGTERM'); }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.stopMonitor();
    this.batch.close();
  }
}
