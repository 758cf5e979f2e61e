// The agent's pipeline against real Open vSwitch instances (userspace datapath), each in its
// own namespace `xcpt-ag-<pid>-<x>` made by this test. Records are built by hand (no server).
// Everything made here carries the prefix and is removed in after(), daemons by their pid.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startOvs, type OvsInstance } from '../../src/backends/ovsdb/index.js';
import { NetnsGuests, vmNamespaceName } from '../../src/backends/linux/guests.js';
import { Ip, netns } from '../../src/backends/linux/ip.js';
import { discoverNics } from '../../src/backends/linux/nics.js';
import { compileHost } from '../../src/agent/desired.js';
import { OvsDriver } from '../../src/backends/ovs/driver.js';
import { OvsSystemSwitch } from '../../src/backends/ovs/switch.js';
import { PoolBuilder } from '../../src/agent/pool-builder.js';
import { reconcile } from '../../src/agent/reconcile.js';
import { defined } from '../../src/common/defined.js';

const run = promisify(execFile);
const P = `xcpt-ag-${process.pid}-`;
const NS_A = `${P}a`;
const NS_B = `${P}b`;
const UA = 'a0000000-0000-4000-8000-00000000000a';
const UB = 'b0000000-0000-4000-8000-00000000000b';

interface Host { ns: string; ovs: OvsInstance; sw: OvsSystemSwitch; backend: OvsDriver; guests: NetnsGuests; ref: string }

async function vsctlJson(h: Host, table: string, ...cols: string[]): Promise<Record<string, unknown>[]> {
  const out = JSON.parse(await h.ovs.vsctl('--format=json', `--columns=${cols.join(',')}`, 'list', table)) as { headings: string[]; data: unknown[][] };
  return out.data.map((row) => Object.fromEntries(out.headings.map((hd, i) => [hd, row[i]])));
}
const val = (x: unknown): unknown => (Array.isArray(x) && x[0] === 'set' && Array.isArray(x[1]) && x[1].length === 0 ? null
  : Array.isArray(x) && x[0] === 'uuid' ? x[1] : Array.isArray(x) && x[0] === 'map' ? Object.fromEntries(x[1] as [string, string][]) : x);
async function portRows(h: Host) {
  return (await vsctlJson(h, 'Port', '_uuid', 'name', 'tag', 'fake_bridge', 'bond_mode', 'lacp', 'bond_updelay', 'bond_downdelay', 'other_config', 'external_ids'))
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, val(v)])) as Record<string, unknown>);
}
async function ifaceRows(h: Host) {
  return (await vsctlJson(h, 'Interface', '_uuid', 'name', 'type', 'options', 'mtu_request', 'external_ids', 'ofport', 'error'))
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, val(v)])) as Record<string, unknown>);
}
async function portsOf(h: Host, bridge: string): Promise<string[]> {
  return (await h.ovs.vsctl('list-ports', bridge)).split('\n').filter(Boolean).sort();
}
const nextCfg = async (h: Host) => Number((await h.ovs.vsctl('get', 'Open_vSwitch', '.', 'next_cfg')).trim());

async function pingFrom(ns: string, ip: string, tries = 6): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try { await run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', ip], { timeout: 5000 }); return true; } catch { /* retry, bounded */ }
  }
  return false;
}

describe('agent on Open vSwitch (two hosts in namespaces)', () => {
  const made: string[] = [];
  const hosts: Host[] = [];
  const at = (i: number): Host => defined(hosts[i], `host ${i}`);
  const b = new PoolBuilder();
  const hA = b.host(UA, 'A');
  const hB = b.host(UB, 'B');

  before(async () => {
    for (const ns of [NS_A, NS_B]) { await netns.add(ns); made.push(ns); }
    // eth1 of A is cabled to eth1 of B; the other NICs end in a peer that is not a NIC.
    await new Ip(NS_A).run('link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', NS_B);
    for (const [ns, nics] of [[NS_A, ['eth0', 'eth2', 'eth3']], [NS_B, ['eth0']]] as const) {
      for (const n of nics) await new Ip(ns).run('link', 'add', n, 'type', 'veth', 'peer', 'name', `p-${n}`);
      for (const n of nics) await new Ip(ns).setUp(`p-${n}`);
    }
    for (const [ns, ref, uuid] of [[NS_A, hA, UA], [NS_B, hB, UB]] as const) {
      const ovs = await startOvs({ dir: await mkdtemp(`/tmp/${P}`), vswitchd: true, netns: ns });
      const sw = await OvsSystemSwitch.open({ ovsdb: ovs.dbSocket, netns: ns, datapath: 'netdev', label: `xcpnet-agent ${uuid}` });
      hosts.push({ ns, ovs, sw, backend: new OvsDriver(sw, uuid), guests: new NetnsGuests({ prefix: P, hostNetns: ns }), ref });
    }
  });

  after(async () => {
    for (const h of hosts) {
      try { await h.backend.close(); } catch { /* continue cleanup */ }
      try { await h.ovs.stop(); } catch { /* continue cleanup */ }
    }
    for (const ns of await netns.list()) if (ns.startsWith(P)) await netns.del(ns);
  });

  const cfgOf = (h: Host) => compileHost(b.records, h.ref);
  const step = async (h: Host) => {
    const r = await reconcile(cfgOf(h), h.backend, h.guests);
    assert.deepEqual(r.errors, {}, JSON.stringify(r.errors));
    return r;
  };

  let mgmt = '', vlanNet = '', bondNet = '', internal = '', vm = '';
  test('NIC discovery: a veth cabled out of the namespace is a NIC; veth pairs inside it and OVS ports are not', async () => {
    const nics = await discoverNics(new Ip(NS_A));
    assert.deepEqual(nics.map((n) => n.device), ['eth1']);
    assert.ok(nics.every((n) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(n.MAC) && n.MTU === 1500));
  });

  test('physical, VLAN, bond, internal: the OVSDB rows of each network kind', async () => {
    const h = at(0);
    const n0 = b.network('xenbr0');
    mgmt = b.physical(hA, 'eth0', n0, { MAC: '02:00:00:0a:00:00', mode: 'Static', IP: '10.77.0.1', netmask: '255.255.255.0', gateway: '10.77.0.254', management: true });
    vlanNet = b.network('xapi1');
    b.vlan(hA, mgmt, vlanNet, 20, { mode: 'Static', IP: '10.77.20.1', netmask: '255.255.255.0' });
    const s2 = b.physical(hA, 'eth2', b.network('xenbr2'), { attached: false });
    const s3 = b.physical(hA, 'eth3', b.network('xenbr3'), { attached: false });
    bondNet = b.network('xapi2');
    b.bond(hA, bondNet, [s2, s3], 'lacp', {}, { MAC: '02:00:00:0a:00:b0' });
    internal = b.network('xapi3', 1400);
    vm = b.vm(hA, 5);
    b.vif(vm, internal, 0, '02:00:00:0a:05:00');
    b.vif(vm, vlanNet, 1, '02:00:00:0a:05:01');

    const r = await step(h);
    assert.ok(r.changes.length > 0);
    assert.equal(r.writes, 1, 'one OVSDB transaction for the whole change');
    // Which bridges, uplinks, VLANs, bonds, guest ports and addresses the host has is the scenario
    // suite's (test/system/scenarios-ovs.test.ts); here: how the OVS driver lays them out in rows.
    assert.equal((await h.ovs.vsctl('br-to-parent', 'xapi1')).trim(), 'xenbr0');
    assert.equal((await h.ovs.vsctl('br-to-vlan', 'xapi1')).trim(), '20');
    const ports = await portRows(h);
    const port = (n: string) => ports.find((p) => p.name === n)!;
    assert.equal(port('xapi1').fake_bridge, true);
    assert.equal(port('xapi1').tag, 20);
    assert.equal(port('vif5.1').tag, 20, 'a VIF on a VLAN network is tagged on the parent');
    assert.equal(port('bond0').bond_mode, 'balance-tcp');
    assert.equal(port('bond0').lacp, 'active');
    assert.equal(port('bond0').bond_updelay, 31000);
    assert.equal(port('bond0').bond_downdelay, 200);
    assert.equal((port('bond0').other_config as Record<string, string>)['lacp-fallback-ab'], 'true');
    const ifs = await ifaceRows(h);
    const iface = (n: string) => ifs.find((i) => i.name === n)!;
    const vifIds = iface('vif5.0').external_ids as Record<string, string>;
    assert.equal(vifIds['xs-vif-uuid'], Object.values(b.records.VIF).find((v) => v.device === '0')!.uuid);
    assert.equal(vifIds['xs-vm-uuid'], b.rec('VM', vm).uuid);
    assert.equal(vifIds['xs-network-uuid'], b.rec('network', internal).uuid);
    assert.equal(vifIds['attached-mac'], '02:00:00:0a:05:00');
    assert.equal(iface('vif5.0').mtu_request, 1400);
    for (const i of ifs) assert.equal((i.external_ids as Record<string, string>)['xcpnet-owner'], UA, `${String(i.name)} carries the owner marker`);
    for (const p of ports) assert.equal((p.external_ids as Record<string, string>)['xcpnet-owner'], UA);
    for (const i of ifs) assert.ok(i.error === null && Number(i.ofport) > 0, `${String(i.name)}: ofport ${String(i.ofport)} error ${String(i.error)}`);
    // The guest interface inside the VM namespace.
    const vmNs = vmNamespaceName(P, b.rec('VM', vm).uuid as string);
    const inside = await new Ip(vmNs).links();
    assert.equal(inside.find((l) => l.ifname === 'eth0')?.address, '02:00:00:0a:05:00');
    assert.equal(inside.find((l) => l.ifname === 'eth0')?.mtu, 1400);
  });

  test('a reconcile with nothing to change writes nothing', async () => {
    const h = at(0);
    const before = await nextCfg(h);
    const tx = h.sw.transactions;
    const r = await step(h);
    assert.deepEqual(r.changes, []);
    assert.equal(h.sw.transactions, tx);
    assert.equal(await nextCfg(h), before, 'no transaction reached ovsdb-server');
  });

  test('drift: a port deleted with ovs-vsctl is put back; a foreign port is left alone', async () => {
    const h = at(0);
    await h.ovs.vsctl('del-port', 'xenbr0', 'eth0');
    await h.ovs.vsctl('add-port', 'xenbr0', 'p-eth0'); // not ours: no marker
    const r = await step(h);
    assert.deepEqual(r.changes, ['add port eth0 to xenbr0']);
    assert.deepEqual(await portsOf(h, 'xenbr0'), ['eth0', 'p-eth0']);
    assert.deepEqual((await step(h)).changes, []);
    await h.ovs.vsctl('del-port', 'xenbr0', 'p-eth0');
  });

  test('an agent restart (new OVSDB session, new guest driver) changes no row', async () => {
    const h = at(0);
    const uuids = async () => JSON.stringify([(await portRows(h)).map((p) => `${String(p.name)}=${String(p._uuid)}`).sort(), (await ifaceRows(h)).map((i) => `${String(i.name)}=${String(i._uuid)}`).sort()]);
    const before = await uuids();
    const cfg0 = await nextCfg(h);
    await h.backend.close();
    h.sw = await OvsSystemSwitch.open({ ovsdb: h.ovs.dbSocket, netns: h.ns, datapath: 'netdev' });
    h.backend = new OvsDriver(h.sw, h.ns === NS_A ? UA : UB);
    h.guests = new NetnsGuests({ prefix: P, hostNetns: h.ns });
    const r = await step(h);
    assert.deepEqual(r.changes, []);
    assert.equal(await uuids(), before);
    assert.equal(await nextCfg(h), cfg0);
  });

  test('IGMP snooping as the PIF recorded it at its plug: the NIC\'s bridge, set in place', async () => {
    const h = at(0);
    const snooping = async () => [
      (await h.ovs.vsctl('get', 'Bridge', 'xenbr0', 'mcast_snooping_enable')).trim(),
      (await h.ovs.vsctl('--if-exists', 'get', 'Bridge', 'xenbr0', 'other_config:mcast-snooping-disable-flood-unregistered')).trim(),
    ];
    assert.deepEqual(await snooping(), ['false', '']);
    const bridgeUuid = (await h.ovs.vsctl('get', 'Bridge', 'xenbr0', '_uuid')).trim();
    b.set('PIF', mgmt, { igmp_snooping_status: 'enabled' });
    const r = await step(h);
    assert.equal(r.writes, 1);
    assert.deepEqual(await snooping(), ['true', '"true"']);
    assert.equal((await h.ovs.vsctl('get', 'Bridge', 'xenbr0', '_uuid')).trim(), bridgeUuid, 'bridge kept');
    assert.equal((await step(h)).writes, 0, 'nothing more to do');
    b.set('PIF', mgmt, { igmp_snooping_status: 'disabled' });
    await step(h);
    assert.deepEqual(await snooping(), ['false', '']);
  });

  test('changes: MTU in place, VIF unplug, VLAN unplug, VM stop', async () => {
    const h = at(0);
    const uuidOf = async (n: string) => (await portRows(h)).find((p) => p.name === n)?._uuid;
    const eth0 = await uuidOf('eth0');
    b.set('network', b.rec('PIF', mgmt).network as string, { MTU: 1600 });
    await step(h);
    assert.equal((await ifaceRows(h)).find((i) => i.name === 'eth0')!.mtu_request, 1600);
    assert.equal(await uuidOf('eth0'), eth0, 'port kept');
    const vifs = b.rec('VM', vm).VIFs as string[];
    b.set('VIF', defined(vifs[0], 'the first VIF'), { currently_attached: false });
    await step(h);
    assert.deepEqual(await portsOf(h, 'xapi1'), ['vif5.1']);
    assert.ok(!(await h.ovs.vsctl('list-br')).includes('xapi3'), 'internal bridge removed with its last VIF');
    b.set('VM', vm, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL', domid: -1 });
    await step(h);
    assert.deepEqual(await portsOf(h, 'xapi1'), []);
    assert.equal(await netns.exists(vmNamespaceName(P, b.rec('VM', vm).uuid as string)), false, 'guest namespace removed');
    // tidy host A for the tunnel test: only the management network stays
    for (const r of Object.keys(b.records.PIF)) if (r !== mgmt && b.rec('PIF', r).host === hA) b.set('PIF', r, { currently_attached: false });
    await step(h);
    assert.deepEqual((await h.ovs.vsctl('list-br')).split('\n').filter(Boolean), ['xenbr0']);
  });

  test('GRE then VXLAN mesh between two hosts carries a ping between two guests', async () => {
    const nt = b.network('xenbr1');
    const pn = b.network('xapi5', 1500, { 'xcpnet-tunnel-key': '77' });
    const ips = ['10.77.1.1', '10.77.1.2'];
    const vms: string[] = [];
    [hA, hB].forEach((h, i) => {
      const t = b.physical(h, 'eth1', nt, { mode: 'Static', IP: ips[i], netmask: '255.255.255.0' });
      b.tunnel(h, t, pn, 'gre');
      const v = b.vm(h, 10 + i);
      b.vif(v, pn, 0, `02:00:00:77:00:0${i + 1}`);
      vms.push(v);
    });
    for (const h of hosts) await step(h);
    for (const [i, h] of hosts.entries()) {
      const tun = (await ifaceRows(h)).filter((x) => x.type === 'gre');
      assert.equal(tun.length, 1, 'one tunnel port per remote host');
      assert.deepEqual(tun[0]?.options, { key: '77', remote_ip: ips[1 - i] });
      assert.deepEqual((await portsOf(h, 'xapi5')).length, 2); // the tunnel and the VIF
    }
    const guestNs = vms.map((v) => vmNamespaceName(P, b.rec('VM', v).uuid as string));
    const [nsA, nsB] = [defined(guestNs[0], 'guest A'), defined(guestNs[1], 'guest B')];
    for (const [i, ns] of guestNs.entries()) await new Ip(ns).addAddr('eth0', `192.168.77.${i + 1}/24`);
    assert.ok(await pingFrom(NS_A, '10.77.1.2'), 'underlay: host A reaches host B over xenbr1');
    assert.ok(await pingFrom(nsA, '192.168.77.2'), 'guest A reaches guest B over GRE');
    for (const t of Object.keys(b.records.tunnel)) b.set('tunnel', t, { protocol: 'vxlan' });
    for (const h of hosts) await step(h);
    for (const h of hosts) {
      assert.equal((await ifaceRows(h)).filter((x) => x.type === 'gre').length, 0);
      assert.equal((await ifaceRows(h)).filter((x) => x.type === 'vxlan').length, 1);
    }
    assert.ok(await pingFrom(nsB, '192.168.77.1'), 'guest B reaches guest A over VXLAN');
    // locking: guest A's VIF locked to its own address passes, locked to another address does not
    const vifA = defined((b.rec('VM', defined(vms[0], 'VM A')).VIFs as string[])[0], "VM A's VIF");
    // The record also holds flow text no API call accepts: it adds no rule (the lock still holds)
    // and IPv6 prefixes are written in a form ovs-ofctl takes.
    const hostile = '10.0.0.1\ncookie=0x1,priority=9000,in_port=1,actions=drop';
    b.set('VIF', vifA, { locking_mode: 'locked', ipv4_allowed: ['192.168.77.1', hostile], ipv6_allowed: ['fd00::/64', 'fd00::1'] });
    const locked = await reconcile(cfgOf(at(0)), at(0).backend, at(0).guests);
    assert.deepEqual(Object.keys(locked.errors), [vifA]);
    assert.match(locked.errors[vifA]!, /invalid allowed addresses ignored/);
    const flows = await run('ovs-ofctl', ['--no-names', 'dump-flows', `unix:${at(0).ovs.dir}/xapi5.mgmt`, 'cookie=0x1/-1']);
    assert.match(flows.stdout, /nw_src=192\.168\.77\.1/);
    assert.match(flows.stdout, /ipv6_src=fd00::\/64/);
    assert.equal(flows.stdout.split('\n').filter((l) => /in_port=/.test(l)).length, 2 + 2 + 3 * 2 + 1, 'DHCP, ARP probe, 2 per IPv4, 3 per IPv6, drop');
    assert.doesNotMatch(flows.stdout, /priority=9000/);
    assert.ok(await pingFrom(nsA, '192.168.77.2'), 'locked to its own address: passes');
    b.set('VIF', vifA, { ipv4_allowed: ['192.168.77.50'] });
    assert.deepEqual((await step(at(0))).changes, ['update port vif10.0 (external_ids)'], 'the port stays; its lock record and flows change');
    assert.equal(await pingFrom(nsA, '192.168.77.2', 2), false, 'locked to another address: dropped');
    b.set('VIF', vifA, { locking_mode: 'unlocked', ipv4_allowed: [] });
    await step(at(0));
    assert.doesNotMatch((await run('ovs-ofctl', ['--no-names', 'dump-flows', `unix:${at(0).ovs.dir}/xapi5.mgmt`, 'cookie=0x1/-1'])).stdout, /in_port/);
    assert.ok(await pingFrom(nsA, '192.168.77.2'), 'unlocked again: passes');
    // a host leaving the mesh: its peer's tunnel port goes, the guest loses the other side
    const accessB = Object.keys(b.records.PIF).find((r) => b.rec('PIF', r).host === hB && b.rec('PIF', r).device === 'tunnel0')!;
    b.set('PIF', accessB, { currently_attached: false });
    await step(at(0));
    assert.equal((await ifaceRows(at(0))).filter((x) => x.type === 'vxlan').length, 0);
    assert.equal(await pingFrom(nsA, '192.168.77.2', 2), false, 'no path once the mesh link is gone');
  });
});
