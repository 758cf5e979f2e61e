// NICs of any name at stable positions (issue 11 item 3), in the lab: a plugged NIC renamed
// under the agent keeps its PIF and network and carries traffic under its new name; a NIC that
// arrives with a predictable name (enp7s0) joins xenbr<its position>; positions survive an
// agent restart (the agent's NIC order file).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { labAddNic, labRestartAgent } from '../../src/lab/index.js';
import { canRunLab, labsOfThisFile, makeVm, pifNetwork, startVm, type TestLab } from '../../src/lab/testkit.js';

const skip = canRunLab();
const lab = labsOfThisFile();

async function rename(l: TestLab, from: string, to: string): Promise<void> {
  for (const argv of [['link', 'set', 'dev', from, 'down'], ['link', 'set', 'dev', from, 'name', to], ['link', 'set', 'dev', to, 'up']]) {
    const r = await l.exec('host1', 'ip', ...argv);
    assert.equal(r.code, 0, r.stderr);
  }
}

const pifRow = async (l: TestLab, uuid: string) => ({
  device: await l.xe('pif-param-get', `uuid=${uuid}`, 'param-name=device'),
  bridge: await l.xe('network-param-get', `uuid=${await l.xe('pif-param-get', `uuid=${uuid}`, 'param-name=network-uuid')}`, 'param-name=bridge'),
});

describe('lab NIC names', { skip, concurrency: false }, () => {
  test('renamed and predictably named NICs: same PIF and network, traffic through the new name, positions kept across an agent restart', async () => {
    const l = await lab('nicname', { hosts: 1, nics: 2 });
    const host = await l.xe('host-list', 'name-label=host1', 'params=uuid', '--minimal');
    const eth1 = await l.xe('pif-list', 'host-name-label=host1', 'device=eth1', 'VLAN=-1', 'params=uuid', '--minimal');
    const net1 = await pifNetwork(l, 'host1', 'eth1');
    await l.xe('pif-plug', `uuid=${eth1}`);
    const vm = await makeVm(l, 'nn1', net1);
    await startVm(l, vm, 'host1', '192.0.2.121/24');
    assert.ok(await l.pingSoon('nn1', '192.0.2.1'), 'through eth1 before the rename');

    // The kernel renames eth1 (a new udev rule, a new kernel's predictable names).
    await rename(l, 'eth1', 'ens5');
    await l.xe('pif-scan', `host-uuid=${host}`);
    assert.deepEqual(await pifRow(l, eth1), { device: 'ens5', bridge: 'xenbr1' }, 'the same PIF, on the same network');
    assert.equal(await l.xe('pif-list', 'host-name-label=host1', 'device=eth1', 'params=uuid', '--minimal'), '', 'no PIF left under the old name');
    // The agent realises the PIF under its new name: ens5 is xenbr1's uplink and carries traffic.
    assert.equal((await l.exec('host1', 'ovs-vsctl', 'port-to-br', 'ens5')).stdout.trim(), 'xenbr1');
    assert.ok(await l.pingSoon('nn1', '192.0.2.1', 10), 'through ens5 after the rename');

    // A NIC hot-added with a name that is not ethN: the next position, 2.
    const added = await labAddNic({ name: l.name, stateDir: l.stateDir, host: 'host1', progress: () => undefined });
    await rename(l, added, 'enp7s0');
    await l.xe('pif-scan', `host-uuid=${host}`);
    const enp = await l.xe('pif-list', 'host-name-label=host1', 'device=enp7s0', 'params=uuid', '--minimal');
    assert.deepEqual(await pifRow(l, enp), { device: 'enp7s0', bridge: 'xenbr2' });
    assert.equal(await l.xe('network-param-get', `uuid=${await l.xe('pif-param-get', `uuid=${enp}`, 'param-name=network-uuid')}`, 'param-name=name-label'), 'Pool-wide network 2');

    // Positions are the agent's, kept in its state directory: a restarted agent gives the same.
    const orderFile = join(l.state.dir, 'agents', 'host1', 'nic-order.json');
    assert.ok(existsSync(orderFile));
    const order = JSON.parse(readFileSync(orderFile, 'utf8')) as { position: number; name: string }[];
    assert.deepEqual(order.map((o) => [o.position, o.name]), [[0, 'eth0'], [1, 'ens5'], [2, 'enp7s0']]);
    const pifs = await l.xe('pif-list', 'host-name-label=host1', 'params=uuid', '--minimal');
    await labRestartAgent({ name: l.name, stateDir: l.stateDir, host: 'host1', progress: () => undefined });
    await l.xe('pif-scan', `host-uuid=${host}`);
    assert.equal(await l.xe('pif-list', 'host-name-label=host1', 'params=uuid', '--minimal'), pifs, 'no PIF more or less after the restart');
    assert.deepEqual(await pifRow(l, enp), { device: 'enp7s0', bridge: 'xenbr2' });
    await l.down();
  });
});
