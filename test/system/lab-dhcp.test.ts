// DHCP in the lab (issue 11 item 2): the upstream's dnsmasq serves VLANs 1, 10 and 20; DHCP
// PIFs get their address from the agent's udhcpc (and release it when unplugged); a DHCP
// management PIF's DNS goes to the host namespace's own resolver file; guests get leases too.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { waitFor } from '../../src/lab/pool.js';
import { canRunLab, labsOfThisFile, makeVm, pifNetwork, pifUuid, startVm, type TestLab } from '../../src/lab/testkit.js';

const skip = canRunLab();
const lab = labsOfThisFile();

/** The PIF's IP once it is in the DHCP range of the subnet whose first three octets are `net`. */
const leasedIp = (l: TestLab, pif: string, net: string) => waitFor(`a DHCP address on ${net}.0/24`, 30_000, async () => {
  const ip = await l.xe('pif-param-get', `uuid=${pif}`, 'param-name=IP');
  const m = new RegExp(`^${net.replace(/\./g, '\\.')}\\.(\\d+)$`).exec(ip);
  return m && Number(m[1]) >= 100 && Number(m[1]) <= 199 ? ip : undefined;
});

/** A lease for a guest's eth0 (udhcpc only asks, configures nothing); the address it got. */
async function guestLease(l: TestLab, vm: string): Promise<string> {
  const r = await l.exec(vm, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '1', '-s', '/bin/true');
  const m = /lease of (\d+\.\d+\.\d+\.\d+) obtained/.exec(r.stdout + r.stderr);
  assert.ok(m, `udhcpc in ${vm}: ${r.stdout}${r.stderr}`);
  return m[1]!;
}

describe('lab DHCP', { skip, concurrency: false }, () => {
  test('DHCP PIFs on VLANs 1 and 10, DHCP guests on VLANs 1 and 20, management DNS in the namespace resolver, release on unplug', async () => {
    const l = await lab('dhcp', { hosts: 1, nics: 2 });
    const dnsmasqLog = join(l.state.dir, 'dhcp-server', 'dnsmasq.log');
    const machineResolver = readFileSync('/etc/resolv.conf', 'utf8');

    // VLAN 1 (native): eth1 in DHCP mode.
    const eth1 = await pifUuid(l, 'host1', 'eth1');
    await l.xe('pif-reconfigure-ip', `uuid=${eth1}`, 'mode=dhcp');
    await l.xe('pif-plug', `uuid=${eth1}`);
    const ip1 = await leasedIp(l, eth1, '192.0.2');
    const br1 = await l.xe('network-param-get', `uuid=${await pifNetwork(l, 'host1', 'eth1')}`, 'param-name=bridge');
    assert.match((await l.exec('host1', 'ip', '-4', '-o', 'addr', 'show', 'dev', br1)).stdout, new RegExp(`inet ${ip1.replace(/\./g, '\\.')}/24`));
    assert.equal((await l.exec('host1', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth1')).stdout.trim(), '', 'the NIC holds nothing');

    // VLAN 10: a VLAN PIF on eth1 in DHCP mode.
    const v10 = await l.xe('network-create', 'name-label=vlan10');
    const pif10 = await l.xe('vlan-create', `pif-uuid=${eth1}`, 'vlan=10', `network-uuid=${v10}`);
    await l.xe('pif-reconfigure-ip', `uuid=${pif10}`, 'mode=dhcp');
    const ip10 = await leasedIp(l, pif10, '198.51.100');

    // Guests: one on the eth1 network (VLAN 1), one on VLAN 20, each leasing from upstream.
    const g1 = await makeVm(l, 'dg1', await pifNetwork(l, 'host1', 'eth1'));
    await startVm(l, g1, 'host1');
    const gip1 = await guestLease(l, 'dg1');
    assert.match(gip1, /^192\.0\.2\.1\d\d$/);
    await l.exec('dg1', 'ip', 'addr', 'add', `${gip1}/24`, 'dev', 'eth0');
    assert.ok(await l.pingSoon('dg1', ip1), 'the DHCP guest reaches the DHCP PIF');
    assert.ok(await l.pingSoon('dg1', '192.0.2.1'), 'and the upstream gateway');
    const v20 = await l.xe('network-create', 'name-label=vlan20');
    await l.xe('vlan-create', `pif-uuid=${eth1}`, 'vlan=20', `network-uuid=${v20}`);
    const g20 = await makeVm(l, 'dg20', v20);
    await startVm(l, g20, 'host1');
    assert.match(await guestLease(l, 'dg20'), /^203\.0\.113\.1\d\d$/);
    assert.ok(await l.pingSoon('host1', ip10), 'the VLAN 10 DHCP address is up');

    // Management in DHCP mode: a lease replaces the static address (confirmed: the gateway
    // answers from it), and the lease's DNS goes to the namespace's own resolver file.
    const eth0 = await pifUuid(l, 'host1', 'eth0');
    await l.xe('pif-reconfigure-ip', `uuid=${eth0}`, 'mode=dhcp');
    const ip0 = await leasedIp(l, eth0, '192.0.2');
    await waitFor('the resolver file', 30_000, async () => {
      const r = await l.exec('host1', 'cat', '/etc/resolv.conf');
      return /^search lab\.test$/m.test(r.stdout) && /^nameserver 192\.0\.2\.1$/m.test(r.stdout) ? true : undefined;
    });
    assert.equal(readFileSync(`/etc/netns/${l.state.prefix}host1/resolv.conf`, 'utf8').includes('nameserver 192.0.2.1'), true);
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), machineResolver, "the machine's own resolver is untouched");
    assert.match((await l.exec('host1', 'ip', 'route', 'show', 'default')).stdout, /default via 192\.0\.2\.1 dev xenbr0/);
    // Bounded at 15 tries (about 15 s): it failed once at 5 under CI load, its cause not found.
    assert.ok(await l.pingSoon('dg1', ip0, 15), 'the management lease address answers');

    // Unplugged: the client releases the lease before the bridge goes, and forgets it.
    await l.xe('pif-unplug', `uuid=${pif10}`);
    await waitFor('DHCPRELEASE of the VLAN 10 lease', 15_000, async () => (new RegExp(`DHCPRELEASE\\(vlan10\\) ${ip10.replace(/\./g, '\\.')} `).test(readFileSync(dnsmasqLog, 'utf8')) ? true : undefined));
    const bridge10 = await l.xe('network-param-get', `uuid=${v10}`, 'param-name=bridge');
    assert.equal(existsSync(join(l.state.dir, 'agents', 'host1', 'dhcp', `${bridge10}.lease`)), false);
    await l.down();
    assert.equal(existsSync(`/etc/netns/${l.state.prefix}host1`), false, 'lab down removes the namespace resolver file');
  });
});
