// Issue 6 end-to-end scenarios with real packets, each from a fresh lab: the API is driven
// through xe, guests are network namespaces, and every ping is bounded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labsOfThisFile, makeVm, startVm, pifNetwork, pifUuid, canRunLab } from '../../src/lab/testkit.js';
import { labAddNic } from '../../src/lab/index.js';

const skip = canRunLab();
const lab = labsOfThisFile();

describe('lab end-to-end', { skip, concurrency: false }, () => {
  test('3. external network: a VM on the eth0 network pings the upstream gateway', async () => {
    const l = await lab('ext');
    const net = await pifNetwork(l, 'host1', 'eth0');
    const vm = await makeVm(l, 'ext1', net);
    await startVm(l, vm, 'host1', '192.0.2.101/24');
    assert.ok(await l.pingSoon('ext1', '192.0.2.1'), 'VM -> upstream gateway');
    assert.ok(await l.ping('ext1', '192.0.2.12'), 'VM -> host2 management address');
    await l.down();
  });

  test('1. single-server private network: same-host VMs talk, another network cannot reach them', async () => {
    const l = await lab('priv');
    const a = await l.xe('network-create', 'name-label=private-a');
    const b = await l.xe('network-create', 'name-label=private-b');
    const vm1 = await makeVm(l, 'pa1', a);
    const vm2 = await makeVm(l, 'pa2', a);
    const vm3 = await makeVm(l, 'pb1', b);
    await startVm(l, vm1, 'host1', '10.99.0.1/24');
    await startVm(l, vm2, 'host1', '10.99.0.2/24');
    await startVm(l, vm3, 'host2', '10.99.0.3/24');
    assert.ok(await l.pingSoon('pa1', '10.99.0.2'), 'pa1 -> pa2 on host1');
    assert.equal(await l.ping('pb1', '10.99.0.1'), false, 'a VM on another network on host2 cannot reach them');
    await l.down();
  });

  test('4. VLAN 10 across hosts and to upstream; VLAN 20 isolated; guests see untagged frames', async () => {
    const l = await lab('vlan');
    const v10 = await l.xe('network-create', 'name-label=vlan10');
    const v20 = await l.xe('network-create', 'name-label=vlan20');
    for (const h of ['host1', 'host2']) {
      await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, h, 'eth1')}`, 'vlan=10', `network-uuid=${v10}`);
    }
    await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, 'host2', 'eth1')}`, 'vlan=20', `network-uuid=${v20}`);
    const a = await makeVm(l, 'va', v10);
    const b = await makeVm(l, 'vb', v10);
    const c = await makeVm(l, 'vc', v20);
    await startVm(l, a, 'host1', '198.51.100.11/24');
    await startVm(l, b, 'host2', '198.51.100.12/24');
    await startVm(l, c, 'host2', '198.51.100.13/24');
    assert.ok(await l.pingSoon('va', '198.51.100.12'), 'VLAN 10 VM host1 -> VLAN 10 VM host2');
    assert.ok(await l.pingSoon('va', '198.51.100.1'), 'VLAN 10 VM -> upstream VLAN 10 gateway');
    assert.equal(await l.ping('vc', '198.51.100.11'), false, 'VLAN 20 VM cannot reach VLAN 10');
    assert.equal(await l.ping('vc', '198.51.100.1'), false, 'nor upstream VLAN 10');
    // Untagged inside the guest: its eth0 is a plain interface with the address on it.
    const link = await l.exec('va', 'ip', '-d', '-o', 'link', 'show', 'eth0');
    assert.doesNotMatch(link.stdout, /vlan protocol/);
    await l.down();
  });

  test('7. VIF lifecycle: attached at start, hot-plug, unplug stops traffic, shutdown removes the guest', async () => {
    const l = await lab('vif');
    const net = await pifNetwork(l, 'host1', 'eth0');
    const vm = await makeVm(l, 'lc1', net);
    await startVm(l, vm, 'host1', '192.0.2.111/24');
    assert.ok(await l.pingSoon('lc1', '192.0.2.1'), 'VIF made on a halted VM is attached at start');
    const vif2 = await l.xe('vif-create', `vm-uuid=${vm}`, `network-uuid=${net}`, 'device=1');
    await l.xe('vif-plug', `uuid=${vif2}`);
    assert.equal((await l.exec('lc1', 'ip', 'link', 'show', 'eth1')).code, 0, 'hot-plugged eth1 is in the guest at once');
    const vif0 = await l.xe('vif-list', `vm-uuid=${vm}`, 'device=0', 'params=uuid', '--minimal');
    await l.xe('vif-unplug', `uuid=${vif0}`);
    assert.equal(await l.ping('lc1', '192.0.2.1'), false, 'no traffic after vif-unplug');
    await l.xe('vm-shutdown', `uuid=${vm}`, '--force');
    assert.equal(await l.xe('vm-list', `uuid=${vm}`, 'params=power-state', '--minimal'), 'halted');
    const guestNs = `${l.state.prefix}vm-${vm.replace(/-/g, '').slice(0, 8)}`;
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = !(await l.exec('host1', 'ip', 'netns', 'list')).stdout.includes(guestNs);
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, `guest namespace ${guestNs} removed`);
    await l.down();
  });

  test('6. add-nic then pif-scan: new PIF and network carry traffic; pif-forget removes the PIF', async () => {
    const l = await lab('nic', { hosts: 2, nics: 2 });
    const dev = await labAddNic({ name: l.name, stateDir: l.stateDir, host: 'host2', progress: () => undefined });
    assert.equal(dev, 'eth2');
    const host = await l.xe('host-list', 'name-label=host2', 'params=uuid', '--minimal');
    await l.xe('pif-scan', `host-uuid=${host}`);
    const pif = await pifUuid(l, 'host2', 'eth2');
    assert.ok(pif, 'PIF eth2 created by pif-scan');
    const net = await pifNetwork(l, 'host2', 'eth2');
    assert.ok(net, 'with its network');
    await l.xe('pif-plug', `uuid=${pif}`);
    const vm = await makeVm(l, 'n1', net);
    await startVm(l, vm, 'host2', '192.0.2.121/24');
    assert.ok(await l.pingSoon('n1', '192.0.2.1'), 'the new NIC network reaches upstream (native VLAN)');
    await l.xe('vm-shutdown', `uuid=${vm}`, '--force');
    await l.xe('pif-unplug', `uuid=${pif}`);
    await l.xe('pif-forget', `uuid=${pif}`);
    assert.equal(await pifUuid(l, 'host2', 'eth2'), '', 'PIF forgotten');
    await l.down();
  });
});
