// The kernel cache: monitor lines (captured from `ip -o monitor link address route`, iproute2
// 6.1, in a namespace: a veth pair made, raised, addressed, renamed, enslaved, removed) → what
// the next look must read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCache, linkNamesOf, MAX_DIRTY, parseMonitorLine, type LinkRecord } from './kernel-cache.js';

const LINES = {
  made: '2: kwb@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether 2a:3b:70:2f:93:4c brd ff:ff:ff:ff:ff:ff',
  up: '3: kwa@kwb: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \\    link/ether 42:2a:ea:46:78:13 brd ff:ff:ff:ff:ff:ff',
  addr: '3: kwa    inet 10.9.0.1/24 scope global kwa\\       valid_lft forever preferred_lft forever',
  route: 'default via 10.9.0.254 dev kwa ',
  kernelRoute: '10.9.0.0/24 dev kwa proto kernel scope link src 10.9.0.1 ',
  renamed: '3: kwc@kwb: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP group default \\    link/ether 42:2a:ea:46:78:13 brd ff:ff:ff:ff:ff:ff',
  // The address keeps the label it was added under: only the index names the link.
  addrDelAfterRename: 'Deleted 3: kwa    inet 10.9.0.1/24 scope global kwc\\       valid_lft forever preferred_lft forever',
  addr6Del: 'Deleted 2: kwb    inet6 fe80::283b:70ff:fe2f:934c/64 scope link tentative \\       valid_lft forever preferred_lft forever',
  routeDel: 'Deleted fe80::/64 dev kwb proto kernel metric 256 pref medium',
  enslaved: '2: kwb@kwa: <BROADCAST,MULTICAST> mtu 1500 master br0 state DOWN \\    link/ether 2a:3b:70:2f:93:4c',
  // A veth literally named `a@b`, its peer `c` (ip appends `@c`; the index made 9 here).
  atName: '9: a@b@c: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default \\    link/ether 1a:78:87:0d:b0:8d brd ff:ff:ff:ff:ff:ff',
  deleted: 'Deleted 3: kwc@NONE: <BROADCAST,MULTICAST> mtu 1400 qdisc noop state DOWN group default \\    link/ether 42:2a:ea:46:78:13 brd ff:ff:ff:ff:ff:ff',
};

test('parseMonitorLine: links, addresses (by index), routes', () => {
  assert.deepEqual(parseMonitorLine(LINES.made), { kind: 'link', ifindex: 2, names: ['kwb', 'kwb@NONE'], deleted: false });
  assert.deepEqual(parseMonitorLine(LINES.up), { kind: 'link', ifindex: 3, names: ['kwa', 'kwa@kwb'], deleted: false });
  assert.deepEqual(parseMonitorLine(LINES.renamed), { kind: 'link', ifindex: 3, names: ['kwc', 'kwc@kwb'], deleted: false });
  assert.deepEqual(parseMonitorLine(LINES.enslaved), { kind: 'link', ifindex: 2, names: ['kwb', 'kwb@kwa'], deleted: false });
  assert.deepEqual(parseMonitorLine(LINES.deleted), { kind: 'link', ifindex: 3, names: ['kwc', 'kwc@NONE'], deleted: true });
  assert.deepEqual(parseMonitorLine(LINES.atName), { kind: 'link', ifindex: 9, names: ['a', 'a@b', 'a@b@c'], deleted: false });
  assert.deepEqual(parseMonitorLine(LINES.addr), { kind: 'addr', ifindex: 3, label: 'kwa', deleted: false });
  assert.deepEqual(parseMonitorLine(LINES.addrDelAfterRename), { kind: 'addr', ifindex: 3, label: 'kwa', deleted: true });
  assert.deepEqual(parseMonitorLine(LINES.addr6Del), { kind: 'addr', ifindex: 2, label: 'kwb', deleted: true });
  for (const l of [LINES.route, LINES.kernelRoute, LINES.routeDel]) assert.deepEqual(parseMonitorLine(l), { kind: 'route' }, l);
  assert.equal(parseMonitorLine('   '), undefined);
});

const rec = (ifindex: number, ifname: string, mtu = 1500): LinkRecord => ({ ifindex, ifname, mtu, flags: ['UP'] });
const routes = (dev: string) => [{ dst: 'default', gateway: '10.9.0.254', dev, flags: [] }];

function loaded(): KernelCache<{ name: string; mtu: number }> {
  const c = new KernelCache((r) => ({ name: String(r.ifname), mtu: Number(r.mtu) }));
  const p = c.pending();
  assert.equal(p.full, true, 'the first look is a full dump');
  c.loadFull([rec(1, 'lo', 65536), rec(2, 'kwb'), rec(3, 'kwa')], routes('kwa'));
  return c;
}

test('KernelCache: a full dump, then only what the events name', () => {
  const c = loaded();
  assert.deepEqual([...c.view().links.keys()], ['lo', 'kwb', 'kwa']);
  assert.deepEqual(c.view().defaultRoute, { dev: 'kwa', via: '10.9.0.254' });
  assert.deepEqual(c.pending(), { full: false, names: [], route: false }, 'nothing changed: nothing to read');
  c.apply(parseMonitorLine(LINES.up)!);
  c.apply(parseMonitorLine(LINES.addr)!);
  assert.deepEqual(c.pending(), { full: false, names: ['kwa', 'kwa@kwb'], route: true });
  assert.deepEqual(c.pending(), { full: false, names: [], route: false }, 'pending takes the dirty set');
  const before = c.view();
  c.loadSome(['kwa'], [rec(3, 'kwa', 9000)], routes('kwb'));
  assert.equal(c.view().links.get('kwa')!.mtu, 9000);
  assert.deepEqual(c.view().defaultRoute, { dev: 'kwb', via: '10.9.0.254' });
  assert.equal(before.links.get('kwa')!.mtu, 1500, 'an earlier view is a snapshot');
});

test('KernelCache: a rename reads both names; an address event is named by its index, not its label', () => {
  const c = loaded();
  c.apply(parseMonitorLine(LINES.renamed)!);
  assert.deepEqual(c.pending(), { full: false, names: ['kwa', 'kwc', 'kwc@kwb'], route: true });
  c.loadSome(['kwa', 'kwc'], [rec(3, 'kwc', 1400)]);
  assert.deepEqual([...c.view().links.keys()].sort(), ['kwb', 'kwc', 'lo']);
  c.apply(parseMonitorLine(LINES.addrDelAfterRename)!);
  assert.deepEqual(c.pending(), { full: false, names: ['kwc'], route: true });
});

test('KernelCache: a name asked for and not answered is gone; made again under its name, it is found by its new index', () => {
  const c = loaded();
  // Index 3 is kwa in the cache: the event's own names are asked for, and kwa with them.
  c.apply(parseMonitorLine(LINES.deleted)!);
  const p = c.pending();
  assert.deepEqual(p, { full: false, names: ['kwa', 'kwc', 'kwc@NONE'], route: true });
  c.loadSome(p.names, []);
  assert.equal(c.has('kwa'), false);
  c.markDirty(['kwa']);
  c.loadSome(['kwa'], [rec(7, 'kwa')]);
  c.apply({ kind: 'addr', ifindex: 7, label: 'other', deleted: false });
  assert.deepEqual(c.pending(), { full: false, names: ['kwa'], route: true });
});

test('KernelCache: a restart (or lost events, or a storm of changes) makes the next look a full dump', () => {
  const c = loaded();
  c.markDirty(['kwa']);
  c.requireFull('monitor started');
  assert.deepEqual(c.pending(), { full: true, reason: 'monitor started' });
  // While the dump is read, a change arrives: the dump may predate it, so it is kept.
  c.apply(parseMonitorLine(LINES.made)!);
  c.loadFull([rec(1, 'lo'), rec(9, 'new0')], []);
  assert.deepEqual([...c.view().links.keys()], ['lo', 'new0']);
  assert.equal(c.view().defaultRoute, undefined);
  assert.deepEqual(c.pending(), { full: false, names: ['kwb', 'kwb@NONE'], route: true }, 'the names dirty before the restart went with it; the one during the dump stays');
  c.markDirty(Array.from({ length: MAX_DIRTY + 1 }, (_, i) => `v${i}`));
  assert.equal(c.pending().full, true);
});

test('linkNamesOf: every reading of NAME@PEER that is an interface name', () => {
  assert.deepEqual(linkNamesOf('kwa'), ['kwa']);
  assert.deepEqual(linkNamesOf('a@b'), ['a', 'a@b']);
  assert.deepEqual(linkNamesOf('x@y@z'), ['x', 'x@y', 'x@y@z']);
  assert.deepEqual(linkNamesOf('@x'), ['@x'], 'no empty name');
  assert.deepEqual(linkNamesOf('abcdefghijklmno@if12'), ['abcdefghijklmno'], 'no name past 15 bytes');
});

test('KernelCache: a new link named with an @ is read under its whole name, not cut at the @', () => {
  const c = loaded();
  c.apply(parseMonitorLine(LINES.atName)!);
  const p = c.pending();
  assert.deepEqual(p, { full: false, names: ['a', 'a@b', 'a@b@c'], route: true });
  c.loadSome(p.names, [rec(9, 'a@b')]);
  assert.equal(c.has('a@b'), true);
  assert.equal(c.has('a'), false);
  c.apply({ kind: 'link', ifindex: 10, names: [], deleted: false });
  assert.equal(c.pending().full, true, 'a link no name can stand for: everything is read');
});

test('KernelCache: nothing named, nothing read; a route event reads only the route', () => {
  const c = loaded();
  c.markDirty([]);
  assert.deepEqual(c.pending(), { full: false, names: [], route: false }, 'an empty list marks nothing, not even the route');
  c.apply(parseMonitorLine(LINES.route)!);
  assert.deepEqual(c.pending(), { full: false, names: [], route: true });
  c.markDirty(['kwa']);
  assert.deepEqual(c.pending(), { full: false, names: ['kwa'], route: true }, 'a changed link may have moved the route');
});
