// The agent's kernel view kept up to date by the kernel's notifications. Pure: the cache of
// links (each parsed once, by the driver's own parser) and the IPv4 default route; `apply` takes
// one line of `ip -o monitor link address route` and marks what it names dirty; `pending` says
// what the next look must ask the kernel (a full dump, or only the dirty links and the route);
// `loadFull`/`loadSome` take the answers. The I/O is in kernel-watch.ts.
import { isIfName } from '../../common/net-syntax.js';

/** One record of `ip -json -details addr show` (a link with its addr_info). */
export type LinkRecord = Record<string, unknown>;

export interface DefaultRoute { dev: string; via: string }

/** What one monitor line says changed. */
export type MonitorEvent =
  /** `names`: what the link may be called (see linkNamesOf). */
  | { kind: 'link'; ifindex: number; names: string[]; deleted: boolean }
  | { kind: 'addr'; ifindex: number; label: string; deleted: boolean }
  | { kind: 'route' };

/**
 * Pure: one line of `ip -o monitor link address route` (iproute2 6.1) → the event, or undefined
 * for an empty line. Links: `[Deleted ]IFINDEX: NAME[@PEER]: <FLAGS> …`; addresses:
 * `[Deleted ]IFINDEX: LABEL    inet[6] …` (the label is the name the address was added under,
 * which a rename does not change: the index is what identifies the link); anything else is
 * a route.
 */
export function parseMonitorLine(line: string): MonitorEvent | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  const deleted = text.startsWith('Deleted ');
  const body = deleted ? text.slice('Deleted '.length) : text;
  const link = /^(\d+): (\S+): </.exec(body);
  if (link) return { kind: 'link', ifindex: Number(link[1]), names: linkNamesOf(link[2]!), deleted };
  const addr = /^(\d+): (\S+)\s+inet6? /.exec(body);
  if (addr) return { kind: 'addr', ifindex: Number(addr[1]), label: addr[2]!, deleted };
  return { kind: 'route' };
}

/**
 * Pure: the names a monitor line's `NAME[@PEER]` may stand for. ip appends `@PEER` (a veth's
 * peer, a VLAN's lower device) and a name may itself hold `@`, so `a@b` is the link `a` or a
 * link named `a@b`: every reading that is an interface name is asked for, and the kernel's
 * answer says which exists (a name cannot hold ':' or a blank, so the text ends at `: <`).
 */
export function linkNamesOf(text: string): string[] {
  const names: string[] = [];
  for (let i = text.indexOf('@'); i >= 0; i = text.indexOf('@', i + 1)) names.push(text.slice(0, i));
  names.push(text);
  return names.filter(isIfName);
}

/** Pure: the IPv4 default route of `ip -json route show default`, if any. */
export function defaultRouteOf(routes: Record<string, unknown>[]): DefaultRoute | undefined {
  const r = routes.find((x) => typeof x.gateway === 'string' && typeof x.dev === 'string');
  return r ? { dev: String(r.dev), via: String(r.gateway) } : undefined;
}

/** What the next look must ask the kernel. */
export type Pending = { full: true; reason: string } | { full: false; names: string[]; route: boolean };

/** Past this many dirty links one full dump costs less than the targeted queries (bench/kernel-look). */
export const MAX_DIRTY = 64;

export class KernelCache<L> {
  private readonly links = new Map<string, L>();
  /** ifindex → name, to name the link of an address event and the old name of a renamed link. */
  private readonly names = new Map<number, string>();
  private readonly indexOf = new Map<string, number>();
  private route?: DefaultRoute;
  private dirty = new Set<string>();
  private routeDirty = false;
  private fullReason: string | undefined = 'first look';

  constructor(private readonly parse: (rec: LinkRecord) => L) {}

  /** The next look dumps everything (after a monitor (re)start, a lost event, periodically). */
  requireFull(reason: string): void {
    this.fullReason ??= reason;
    this.dirty.clear();
    this.routeDirty = false;
  }

  /**
   * The named links are read again, and the default route with them (a link going down drops
   * its routes unannounced). No names: nothing to read.
   */
  markDirty(names: Iterable<string>): void {
    const list = [...names];
    if (this.fullReason !== undefined || list.length === 0) return;
    for (const n of list) this.dirty.add(n);
    this.routeDirty = true;
    if (this.dirty.size > MAX_DIRTY) this.requireFull(`more than ${MAX_DIRTY} links changed`);
  }

  apply(ev: MonitorEvent): void {
    if (ev.kind === 'link') {
      // The name the index had, too: a rename leaves it behind.
      const old = this.names.get(ev.ifindex);
      const names = old !== undefined ? [old, ...ev.names] : ev.names;
      if (names.length === 0) this.requireFull('a link named by no interface name');
      else this.markDirty(names);
    } else if (ev.kind === 'addr') {
      this.markDirty([this.names.get(ev.ifindex) ?? ev.label]);
    } else if (this.fullReason === undefined) {
      this.routeDirty = true;
    }
  }

  /**
   * Takes what the look about to start must read: events arriving while it reads are kept for
   * the next one (the answer may predate them). A look that fails calls requireFull.
   */
  pending(): Pending {
    if (this.fullReason !== undefined) {
      const reason = this.fullReason;
      this.fullReason = undefined;
      return { full: true, reason };
    }
    const p: Pending = { full: false, names: [...this.dirty], route: this.routeDirty };
    this.dirty = new Set();
    this.routeDirty = false;
    return p;
  }

  /** A full dump: every link replaced. */
  loadFull(records: LinkRecord[], routes: Record<string, unknown>[]): void {
    this.links.clear();
    this.names.clear();
    this.indexOf.clear();
    for (const r of records) this.put(r);
    this.route = defaultRouteOf(routes);
  }

  /** Targeted answers: each asked name found is replaced, each not found is gone. */
  loadSome(asked: string[], records: LinkRecord[], routes?: Record<string, unknown>[]): void {
    const found = new Set<string>();
    for (const r of records) found.add(this.put(r));
    for (const n of asked) {
      if (!found.has(n)) this.forget(n);
    }
    if (routes) this.route = defaultRouteOf(routes);
  }

  private put(r: LinkRecord): string {
    const name = String(r.ifname);
    const ifindex = Number(r.ifindex);
    const prev = this.names.get(ifindex);
    if (prev !== undefined && prev !== name) this.forget(prev); // renamed
    const before = this.indexOf.get(name);
    if (before !== undefined && before !== ifindex) this.names.delete(before); // made again under its name
    this.names.set(ifindex, name);
    this.indexOf.set(name, ifindex);
    this.links.set(name, this.parse(r));
    return name;
  }

  private forget(name: string): void {
    const i = this.indexOf.get(name);
    if (i !== undefined && this.names.get(i) === name) this.names.delete(i);
    this.indexOf.delete(name);
    this.links.delete(name);
  }

  has(name: string): boolean { return this.links.has(name); }

  /** A snapshot: later loads do not change it (the records themselves are replaced, never edited). */
  view(): { links: Map<string, L>; defaultRoute?: DefaultRoute } {
    return { links: new Map(this.links), ...(this.route ? { defaultRoute: { ...this.route } } : {}) };
  }
}
