// The Linux-bridge driver with packets, two hosts in namespaces (eth1 cabled between them):
// guests on a cross-server private network reach each other over VXLAN, and VIF locking with
// nftables lets a locked guest send only from its own addresses. Needs root.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { compileHost } from '../../src/agent/desired.js';
import { reconcile } from '../../src/agent/reconcile.js';
import { BridgeDriver } from '../../src/backends/bridge/driver.js';
import { Ip } from '../../src/backends/linux/ip.js';
import { vmNamespaceName } from '../../src/backends/linux/guests.js';
import { HOST_UUIDS, newWorld, type World } from '../scenarios/scenarios.js';
import type { TargetHost } from '../scenarios/suite.js';
import { realTarget } from './support/real-hosts.js';

const run = promisify(execFile);
const target = realTarget({ name: 'bridge', tag: 'ab', lacks: async () => ({}), driver: async (ns, i) => ({ driver: await BridgeDriver.open({ netns: ns, host: HOST_UUIDS[i]! }) }) });

async function ping(ns: string, addr: string, tries = 5): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try { await run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', addr], { timeout: 5000 }); return true; } catch { /* bounded retry */ }
  }
  return false;
}

describe('bridge driver with packets', { skip: process.getuid?.() !== 0 && !process.env.CI ? 'needs root' : false }, () => {
  let hosts: TargetHost[] = [];
  let w: World;
  let guestNs: string[] = [];
  let vifA = '';
  before(async () => { hosts = await target.open(2); w = newWorld(2); });
  after(async () => { await target.close(hosts); });
  const step = async () => {
    for (const [i, h] of hosts.entries()) {
      const r = await reconcile(compileHost(w.b.records, w.hosts[i]!), h.driver, h.guests);
      assert.deepEqual(r.errors, {});
    }
  };

  test('guests on two hosts talk over VXLAN', async () => {
    const nt = w.b.network('xenbr1');
    const pn = w.b.network('xapi5', 1500, { 'xcpnet-tunnel-key': '99' });
    const vms: string[] = [];
    w.hosts.forEach((h, i) => {
      w.b.tunnel(h, w.b.physical(h, 'eth1', nt, { mode: 'Static', IP: `10.82.0.${i + 1}`, netmask: '255.255.255.0' }), pn, 'vxlan');
      const vm = w.b.vm(h, 20 + i);
      const v = w.b.vif(vm, pn, 0, `02:00:00:82:00:0${i + 1}`);
      if (i === 0) vifA = v;
      vms.push(vm);
    });
    await step();
    guestNs = vms.map((vm) => vmNamespaceName(`xcpt-ab-${process.pid}-0-`, w.b.records.VM[vm]!.uuid as string));
    for (const [i, ns] of guestNs.entries()) {
      await new Ip(ns).addAddr('eth0', `192.168.82.${i + 1}/24`);
      await new Ip(ns).setUp('eth0');
    }
    assert.ok(await ping(`xcpt-ab-${process.pid}-0-h0`, '10.82.0.2'), 'underlay: host A reaches host B on xenbr1');
    assert.ok(await ping(guestNs[0]!, '192.168.82.2'), 'guest A reaches guest B over VXLAN');
  });

  test('a NIC that holds the host\'s address is taken over: address and routes move to the bridge, the NIC keeps none; a refused NIC leaves its network undone', async () => {
    const ns = `xcpt-ab-${process.pid}-0-h0`;
    const ip = new Ip(ns);
    // As a distribution leaves it: an address on eth2 and a route through it.
    await ip.run('addr', 'add', '10.84.0.1/24', 'dev', 'eth2');
    await ip.run('route', 'add', '10.85.0.0/24', 'via', '10.84.0.9', 'dev', 'eth2');
    const h = w.hosts[0]!;
    const pif = w.b.physical(h, 'eth2', w.b.network('xenbr2'), { mode: 'Static', IP: '10.84.0.1', netmask: '255.255.255.0' });
    // eth3 is refused, as a NIC the distribution configures would be (detection: linux/distro.ts).
    const refusing = await BridgeDriver.open({ netns: ns, host: HOST_UUIDS[0]!, refuseNics: async (nics) => new Map(nics.filter((n) => n === 'eth3').map((n) => [n, `${n} is the distribution's`])) });
    try {
      const p3 = w.b.physical(h, 'eth3', w.b.network('xenbr3'), { mode: 'Static', IP: '10.86.0.1', netmask: '255.255.255.0' });
      const r = await reconcile(compileHost(w.b.records, h), refusing, hosts[0]!.guests);
      assert.deepEqual(r.errors, { [p3]: 'eth3 is the distribution\'s' });
      assert.ok(r.changes.includes('move the addresses and routes of eth2 to xenbr2'), JSON.stringify(r.changes));
      assert.equal((await run('ip', ['-n', ns, '-4', '-o', 'addr', 'show', 'dev', 'eth2'])).stdout.trim(), '', 'eth2 keeps no address');
      assert.match((await run('ip', ['-n', ns, '-4', '-o', 'addr', 'show', 'dev', 'xenbr2'])).stdout, /inet 10\.84\.0\.1\/24/);
      assert.match((await run('ip', ['-n', ns, 'route', 'show', '10.85.0.0/24'])).stdout, /via 10\.84\.0\.9 dev xenbr2/);
      assert.equal((await run('ip', ['-n', ns, 'link', 'show', 'xenbr3'], { timeout: 5000 }).then(() => 'there', () => 'absent')), 'absent', 'nothing of the refused NIC\'s network is made');
      assert.doesNotMatch((await run('ip', ['-n', ns, '-o', 'link', 'show', 'dev', 'eth3'])).stdout, /master/);
      // Realised: a second pass moves nothing and changes nothing.
      const again = await reconcile(compileHost(w.b.records, h), refusing, hosts[0]!.guests);
      assert.deepEqual(again.changes, []);
      delete w.b.records.PIF[p3];
      delete w.b.records.PIF[pif];
      await step();
    } finally { await refusing.close(); }
  });

  test('a locked VIF sends only from its allowed addresses (nftables); unlocked again it passes', async () => {
    w.b.set('VIF', vifA, { locking_mode: 'locked', ipv4_allowed: ['192.168.82.1'] });
    await step();
    const table = await run('ip', ['netns', 'exec', `xcpt-ab-${process.pid}-0-h0`, 'nft', 'list', 'table', 'bridge', 'xcpnet']);
    assert.match(table.stdout, /iifname "vif20\.0" ether saddr != 02:00:00:82:00:01 drop/);
    assert.ok(await ping(guestNs[0]!, '192.168.82.2'), 'locked to its own address: passes');
    w.b.set('VIF', vifA, { ipv4_allowed: ['192.168.82.50'] });
    await step();
    assert.equal(await ping(guestNs[0]!, '192.168.82.2', 2), false, 'locked to another address: dropped');
    // A second pass with nothing changed writes nothing (the table's fingerprint matches).
    const again = await reconcile(compileHost(w.b.records, w.hosts[0]!), hosts[0]!.driver, hosts[0]!.guests);
    assert.deepEqual([again.changes, again.writes], [[], 0]);
    w.b.set('VIF', vifA, { locking_mode: 'unlocked', ipv4_allowed: [] });
    await step();
    assert.ok(await ping(guestNs[0]!, '192.168.82.2'), 'unlocked again: passes');
  });

  test('IGMP snooping: the NIC\'s bridge snoops as its PIF recorded at its plug; a bridge made while it is off does not', async () => {
    const ns = `xcpt-ab-${process.pid}-0-h0`;
    const snooping = async () => {
      const [l] = JSON.parse((await run('ip', ['-n', ns, '-details', '-json', 'link', 'show', 'dev', 'xenbr1'])).stdout) as { linkinfo: { info_data: { mcast_snooping: number } } }[];
      return l!.linkinfo.info_data.mcast_snooping;
    };
    const pif = Object.entries(w.b.records.PIF).find(([, p]) => p.host === w.hosts[0] && p.device === 'eth1')![0];
    assert.equal(await snooping(), 0, 'made while off: set off (the kernel makes bridges snooping)');
    w.b.set('PIF', pif, { igmp_snooping_status: 'enabled' });
    await step();
    assert.equal(await snooping(), 1);
    w.b.set('PIF', pif, { igmp_snooping_status: 'disabled' });
    await step();
    assert.equal(await snooping(), 0);
  });
});
