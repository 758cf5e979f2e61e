// The agent does not trust the master's records: a value that could not have passed the
// server's field rules is left out (or its object not realised) and reported, never written
// to OVS, a flow, an iproute2 argument or a namespace name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHost } from './desired.js';
import { PoolBuilder } from './pool-builder.js';
import { reconcile } from './reconcile.js';
import { Ip, IpError, netns } from '../backends/linux/ip.js';
import { OvsDriver } from '../backends/ovs/driver.js';
import { MemorySwitch } from '../backends/ovs/memory.js';
import type { LockSpec } from '../backends/ovs/model.js';
import { ovsRows } from '../backends/ovs/rows.js';

const HU = '11111111-2222-3333-4444-555555555555';
const INJECT = '10.0.0.1\ncookie=0x1,in_port=1,actions=drop';

function lockedVif(extra: Record<string, unknown>) {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n = b.network('xapi3');
  const vm = b.vm(h, 4);
  const v = b.vif(vm, n, 0, '02:aa:00:00:00:01', { locking_mode: 'locked', ipv4_allowed: ['10.0.0.9'], ...extra });
  return { b, h, n, vm, v };
}

test('allowed addresses that are not addresses are left out and reported; the lock stays', () => {
  const { b, h, v } = lockedVif({ ipv4_allowed: ['10.0.0.9', INJECT, '10.0.0.1,actions=drop', '10.0.0.0/24'], ipv6_allowed: ['fe80::1 ', 'fe80::2'] });
  const c = compileHost(b.records, h);
  const spec = c.doc.vifs.find((x) => x.owner === v)!;
  assert.equal(spec.locking, 'locked');
  assert.deepEqual([spec.ipv4_allowed, spec.ipv6_allowed], [['10.0.0.9', '10.0.0.0/24'], ['fe80::2']]);
  assert.match(c.errors[v]!, /invalid allowed addresses ignored: .*cookie=0x1/);
  const port = ovsRows(c.doc, '').ports.find((p) => p.name === 'vif4.0')!;
  assert.equal(port.external_ids['xcpnet-ipv4-allowed'], '10.0.0.9,10.0.0.0/24');
});

test('a locked VIF keeps its rules even when its record has errors (fail closed)', async () => {
  const { b, h, v } = lockedVif({ ipv4_allowed: [INJECT] });
  const sw = new MemorySwitch({ nics: 1, seed: HU });
  let seen: LockSpec[] | undefined;
  Object.assign(sw, { applyLocking: async (l: LockSpec[]) => { seen = l; return {}; } });
  const r = await reconcile(compileHost(b.records, h), new OvsDriver(sw), undefined);
  assert.ok(r.errors[v], 'the bad entry is reported');
  assert.deepEqual(seen?.map((l) => [l.owner, l.ipv4]), [[v, []]], 'the port is still locked, with nothing allowed');
});

test('names that would be options, paths or several arguments are never used', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const bad = ['-x', '../../run/x', 'a b', 'br\nx', 'sixteen-chars-xx', '.', ''];
  const nets = bad.map((name) => b.network(name));
  const pifs = bad.map((dev, i) => b.physical(h, dev === '' ? 'eth9' : dev, b.network(`xenbr${i}`)));
  b.physical(h, 'eth0', nets[0]!);
  const c = compileHost(b.records, h);
  for (const p of pifs.slice(0, -1)) assert.match(c.errors[p]!, /invalid device name/);
  assert.match(c.errors[Object.keys(b.records.PIF).at(-1)!]!, /invalid bridge name "-x"/);
  const used = JSON.stringify(c.doc);
  for (const name of bad.filter((n) => n !== '')) {
    assert.ok(!c.doc.bridges.some((x) => x.name === name), `no bridge ${JSON.stringify(name)}`);
    assert.ok(!used.includes(JSON.stringify(name)), `${JSON.stringify(name)} appears nowhere in the document`);
  }
});

test('VIFs with a bad MAC or uuid and VMs with a bad uuid are not realised', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n = b.network('xapi3');
  const vm = b.vm(h, 4);
  const badMac = b.vif(vm, n, 0, '02:aa:00:00:00:01\n');
  const badUuid = b.vif(vm, n, 1, '02:aa:00:00:00:02');
  b.set('VIF', badUuid, { uuid: '../x' });
  const evil = b.vm(h, 5, true, '../../../etc/x');
  const c = compileHost(b.records, h);
  assert.match(c.errors[badMac]!, /invalid MAC/);
  assert.match(c.errors[badUuid]!, /invalid VIF uuid/);
  assert.match(c.errors[evil]!, /invalid VM uuid/);
  assert.deepEqual(c.doc.vifs, []);
  assert.deepEqual(c.vms.map((x) => x.ref), [vm]);
});

test('MTUs, VLAN tags and tunnel keys out of range are ignored and reported', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p = b.physical(h, 'eth1', b.network('xenbr1', 1500), { other_config: { mtu: '99999999999' } });
  const c = compileHost(b.records, h);
  assert.match(c.errors[p]!, /invalid other_config:mtu/);
  assert.equal(c.doc.bridges.find((x) => x.uplink?.device === 'eth1')!.mtu, 1500);
  const b2 = new PoolBuilder();
  const h2 = b2.host(HU);
  const hb = b2.host('aaaaaaaa-0000-0000-0000-000000000002');
  const nt = b2.network('xenbr1');
  const pn = b2.network('xapi9', 1500, { 'xcpnet-tunnel-key': '1,remote_ip=1.2.3.4' });
  const t = b2.tunnel(h2, b2.physical(h2, 'eth1', nt, { mode: 'Static', IP: '10.9.0.1', netmask: '255.255.255.0' }), pn);
  b2.tunnel(hb, b2.physical(hb, 'eth1', nt, { mode: 'Static', IP: '10.9.0.2', netmask: '255.255.255.0' }), pn);
  const c2 = compileHost(b2.records, h2);
  assert.match(c2.errors[t]!, /invalid tunnel key/);
  assert.deepEqual(c2.doc.bridges.flatMap((x) => x.tunnels), []);
});

test('iproute2 arguments are checked before anything runs', async () => {
  const ip = new Ip();
  for (const run of [() => ip.setUp('-f'), () => ip.setUp('a/b'), () => ip.delLink('help me'), () => ip.addAddr('eth0', '10.0.0.1/24 dev lo'),
    () => ip.addAddr('eth0', '-4'), () => ip.replaceDefaultRoute('10.0.0.1\n', 'eth0'), () => ip.addVeth('vif1.0', 'eth0', 'ns', '02:00:00:00:00:01,x', 1500),
    () => ip.setAlias('lo', 'x\ny'), () => new Ip('-n').setUp('lo'), () => netns.add('x/y'), () => netns.del('x/y')]) {
    await assert.rejects(run(), (e: unknown) => e instanceof IpError && /invalid/.test((e as Error).message));
  }
});
