// Issue 6 end-to-end scenarios across the pool: tunnels, bonds, network-destroy, MTU and
// management moves. Each from a fresh lab; every ping bounded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { labsOfThisFile, makeVm, startVm, pifNetwork, pifUuid, canRunLab, type TestLab } from '../../src/lab/testkit.js';
import { labCable } from '../../src/lab/index.js';

const skip = canRunLab();
const lab = labsOfThisFile();

async function until(what: string, probe: () => Promise<boolean>, tries = 50): Promise<void> {
  for (let i = 0; i < tries; i++) { if (await probe()) return; await sleep(100); }
  assert.fail(`timed out: ${what}`);
}

/** Packets received on all ports of a host's bridge, from `ovs-ofctl dump-ports`. */
async function bridgeRxPackets(l: TestLab, host: string, bridge: string): Promise<number> {
  const r = await l.exec(host, 'ovs-ofctl', 'dump-ports', bridge);
  assert.equal(r.code, 0, r.stderr);
  return [...r.stdout.matchAll(/rx pkts=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

for (const protocol of ['vxlan', 'gre']) {
  describe(`2. cross-server private network over ${protocol}`, { skip, concurrency: false }, () => {
    test('VMs on two hosts talk, another network cannot, a third host joins without breaking them', async () => {
      const l = await lab(protocol === 'vxlan' ? 'vx' : 'gre', { hosts: 3, nics: 2 });
      const net = await l.xe('network-create', `name-label=csp-${protocol}`);
      const other = await l.xe('network-create', 'name-label=other');
      for (const h of ['host1', 'host2']) {
        await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${net}`, `protocol=${protocol}`);
      }
      await startVm(l, await makeVm(l, 'c1', net), 'host1', '10.77.0.1/24');
      await startVm(l, await makeVm(l, 'c2', net), 'host2', '10.77.0.2/24');
      await startVm(l, await makeVm(l, 'o2', other), 'host2', '10.77.0.9/24');
      assert.ok(await l.pingSoon('c1', '10.77.0.2'), 'host1 VM -> host2 VM over the tunnel');
      assert.equal(await l.ping('o2', '10.77.0.1'), false, 'a VM on another network cannot reach them');
      await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, 'host3', 'eth0')}`, `network-uuid=${net}`, `protocol=${protocol}`);
      await startVm(l, await makeVm(l, 'c3', net), 'host3', '10.77.0.3/24');
      assert.ok(await l.pingSoon('c3', '10.77.0.1'), 'host3 VM -> host1 VM');
      assert.ok(await l.pingSoon('c3', '10.77.0.2'), 'host3 VM -> host2 VM');
      assert.ok(await l.ping('c1', '10.77.0.2'), 'host1 <-> host2 still');
      // Three hosts in a full mesh form a loop: a broadcast must not circulate between the
      // tunnels (it did, thousands of packets a second, before tunnel ports were protected).
      const bridge = await l.xe('network-param-get', `uuid=${net}`, 'param-name=bridge');
      const before = await bridgeRxPackets(l, 'host1', bridge);
      await sleep(1000);
      const quiet = (await bridgeRxPackets(l, 'host1', bridge)) - before;
      assert.ok(quiet < 50, `no traffic loop between the tunnels: ${quiet} packets in 1 s on an idle network`);
      await l.down();
    });
  });
}

/** The bond member OVS uses now, from `ovs-appctl bond/show` in the host. */
async function activeMember(l: TestLab, host: string): Promise<string | undefined> {
  const out = (await l.exec(host, 'ovs-appctl', 'bond/show')).stdout;
  return /active (?:member|slave) mac: [0-9a-f:]+\((eth\d+)\)/.exec(out)?.[1] ??
    /(?:member|slave) (eth\d+): enabled\s+active (?:member|slave)/.exec(out)?.[1];
}

for (const mode of ['active-backup', 'balance-slb']) {
  describe(`5. bond ${mode} over eth1+eth2 on VLAN 10`, { skip, concurrency: false }, () => {
    test('pulling the active member keeps a bounded ping going; links_up follows the cables', async (t) => {
      const l = await lab(mode === 'active-backup' ? 'bab' : 'bslb', { hosts: 1, nics: 3 });
      const bondNet = await l.xe('network-create', 'name-label=bond');
      const bond = await l.xe('bond-create', `network-uuid=${bondNet}`,
        `pif-uuids=${await pifUuid(l, 'host1', 'eth1')},${await pifUuid(l, 'host1', 'eth2')}`, `mode=${mode}`);
      const bondPif = await l.xe('pif-list', `network-uuid=${bondNet}`, 'params=uuid', '--minimal');
      const v10 = await l.xe('network-create', 'name-label=v10');
      await l.xe('vlan-create', `pif-uuid=${bondPif}`, 'vlan=10', `network-uuid=${v10}`);
      await startVm(l, await makeVm(l, 'b1', v10), 'host1', '198.51.100.31/24');
      assert.ok(await l.pingSoon('b1', '198.51.100.1'), 'VM on the bonded VLAN reaches upstream VLAN 10');
      await until('links_up = 2', async () => (await l.xe('bond-param-get', `uuid=${bond}`, 'param-name=links-up')) === '2');
      const active = (await activeMember(l, 'host1')) ?? 'eth1';
      // 60 pings 0.1 s apart (bounded: -w 15), the cable pulled 1 s in.
      const running = l.exec('b1', 'ping', '-c', '60', '-i', '0.1', '-W', '1', '-w', '15', '198.51.100.1');
      await sleep(1000);
      await labCable({ name: l.name, stateDir: l.stateDir, host: 'host1', device: active, state: 'down', progress: () => undefined });
      const r = await running;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      const lost = Number(m[1]) - Number(m[2]);
      t.diagnostic(`${mode}: pulled ${active}; ${lost} of ${m[1]} pings lost`);
      assert.ok(Number(m[2]) > 0 && lost <= 20, `few losses expected, lost ${lost} of ${m[1]}`);
      assert.ok(await l.ping('b1', '198.51.100.1'), 'traffic flows on the remaining member');
      await until('links_up = 1', async () => (await l.xe('bond-param-get', `uuid=${bond}`, 'param-name=links-up')) === '1');
      await labCable({ name: l.name, stateDir: l.stateDir, host: 'host1', device: active, state: 'up', progress: () => undefined });
      await until('links_up = 2 again', async () => (await l.xe('bond-param-get', `uuid=${bond}`, 'param-name=links-up')) === '2');
      await l.down();
    });
  });
}

describe('8. network-destroy', { skip, concurrency: false }, () => {
  test('refuses while VIFs, PIFs or VLANs use the network; then succeeds and the bridge goes everywhere', async () => {
    const l = await lab('nd');
    const net = await l.xe('network-create', 'name-label=doomed');
    const vm = await makeVm(l, 'd1', net);
    await startVm(l, vm, 'host1');
    await assert.rejects(l.xe('network-destroy', `uuid=${net}`), /NETWORK_CONTAINS_VIF|VIF/, 'refused with an attached VIF on it');
    // Unattached VIFs do not block (xapi destroys them with the network).
    await l.xe('vm-shutdown', `uuid=${vm}`, '--force');
    for (const h of ['host1', 'host2']) await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, h, 'eth1')}`, 'vlan=30', `network-uuid=${net}`);
    const bridge = await l.xe('network-param-get', `uuid=${net}`, 'param-name=bridge');
    for (const h of ['host1', 'host2']) {
      await until(`${bridge} on ${h}`, async () => (await l.exec(h, 'ovs-vsctl', 'list-br')).stdout.split('\n').includes(bridge));
    }
    await assert.rejects(l.xe('network-destroy', `uuid=${net}`), /NETWORK_CONTAINS_PIF|PIF/, 'refused with VLAN PIFs on it');
    for (const h of ['host1', 'host2']) {
      const vpif = await pifUuid(l, h, 'eth1', 30);
      await l.xe('vlan-destroy', `uuid=${await l.xe('vlan-list', `untagged-PIF=${vpif}`, 'params=uuid', '--minimal')}`);
    }
    await l.xe('network-destroy', `uuid=${net}`);
    assert.equal(await l.xe('vif-list', `vm-uuid=${vm}`, 'params=uuid', '--minimal'), '', 'the unattached VIF went with the network');
    for (const h of ['host1', 'host2']) {
      await until(`${bridge} gone from ${h}`, async () => !(await l.exec(h, 'ovs-vsctl', 'list-br')).stdout.split('\n').includes(bridge));
    }
    await l.down();
  });
});

describe('9. MTU 9000', { skip, concurrency: false }, () => {
  test('reaches bridge, uplinks and VIFs; 8972 bytes with DF pass between VMs on two hosts', async () => {
    const l = await lab('mtu', { hosts: 2, nics: 4 });
    const net = await pifNetwork(l, 'host1', 'eth3');
    const net2 = await pifNetwork(l, 'host2', 'eth3');
    for (const n of new Set([net, net2])) await l.xe('network-param-set', `uuid=${n}`, 'MTU=9000');
    for (const h of ['host1', 'host2']) {
      const pif = await pifUuid(l, h, 'eth3');
      await l.xe('pif-unplug', `uuid=${pif}`).catch(() => undefined);
      await l.xe('pif-plug', `uuid=${pif}`);
    }
    await startVm(l, await makeVm(l, 'j1', net), 'host1', '10.90.0.1/24');
    await startVm(l, await makeVm(l, 'j2', net2), 'host2', '10.90.0.2/24');
    const mtuOf = async (target: string, dev: string) => /mtu (\d+)/.exec((await l.exec(target, 'ip', '-o', 'link', 'show', dev)).stdout)?.[1];
    assert.equal(await mtuOf('host1', 'eth3'), '9000', 'uplink');
    assert.equal(await mtuOf('j1', 'eth0'), '9000', 'VIF, guest side');
    const bridge = await l.xe('network-param-get', `uuid=${net}`, 'param-name=bridge');
    assert.equal(await mtuOf('host1', bridge), '9000', 'bridge');
    assert.ok(await l.pingSoon('j1', '10.90.0.2'), 'small ping first');
    assert.ok(await l.ping('j1', '10.90.0.2', { size: 8972, df: true }), '8972-byte payload with DF set');
    await l.down();
  });
});

describe('10. management reconfigure', { skip, concurrency: false }, () => {
  test('moving management to eth1 moves the address; the host stays reachable', async () => {
    const l = await lab('mgmt');
    const eth1 = await pifUuid(l, 'host2', 'eth1');
    await l.xe('pif-reconfigure-ip', `uuid=${eth1}`, 'mode=static', 'IP=192.0.2.32', 'netmask=255.255.255.0', 'gateway=192.0.2.1');
    await l.xe('host-management-reconfigure', `pif-uuid=${eth1}`);
    assert.equal(await l.xe('pif-param-get', `uuid=${eth1}`, 'param-name=management'), 'true');
    assert.equal(await l.xe('host-param-get', `uuid=${await l.xe('host-list', 'name-label=host2', 'params=uuid', '--minimal')}`, 'param-name=address'), '192.0.2.32');
    assert.ok(await l.pingSoon('host1', '192.0.2.32'), 'host2 reachable on its new management address');
    assert.ok(await l.ping('host2', '192.0.2.1'), 'and it reaches the gateway');
    await l.down();
  });
});
