// Issue 10: a lab pool formed and changed only through `xe pool-join` / `xe pool-eject` over TLS.
// Three standalone hosts (each its own xcpnet serve, a pool of one); host2 and host3 join host1's
// pool; guests on a VLAN network and on a cross-server private network (VXLAN) talk across all
// three; host3 is ejected while guests on host1 and host2 ping each other on both networks (no
// ping lost), and its guests' ports and tunnels leave the pool's bridges; host3 joins again and
// its guests are back on the pool's networks. Every ping is bounded in count and time.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labsOfThisFile, makeVm, startVm, pifUuid, canRunLab, labCli, xeOn, type TestLab } from '../../src/lab/testkit.js';
import { waitFor } from '../../src/lab/pool.js';

const skip = canRunLab();
const lab = labsOfThisFile();


/** `count` pings 0.1 s apart from a guest, bounded by `count / 10 + 10` s: sent and received. */
function pingRun(l: TestLab, from: string, to: string, count: number): Promise<{ sent: number; received: number; text: string }> {
  return l.exec(from, 'ping', '-c', String(count), '-i', '0.1', '-W', '1', '-w', String(Math.ceil(count / 10) + 10), to).then((r) => {
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    return { sent: Number(m[1]), received: Number(m[2]), text: r.stdout };
  });
}

/** Names of every port on every bridge of a host's Open vSwitch. */
async function ports(l: TestLab, host: string): Promise<string[]> {
  const r = await l.exec(host, 'ovs-vsctl', '--format=csv', '--no-headings', '--columns=name', 'list', 'Interface');
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((n) => n.replace(/^"|"$/g, ''));
}

/** Tunnel interfaces of a host whose remote end is `ip`. */
async function tunnelsTo(l: TestLab, host: string, ip: string): Promise<string[]> {
  const r = await l.exec(host, 'ovs-vsctl', '--bare', '--columns=name', 'find', 'Interface', `options:remote_ip=${ip}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean);
}

const HOST3_IP = '192.0.2.13';

describe('pool-join and pool-eject over TLS in the lab', { skip, concurrency: false }, () => {
  test('3 standalone hosts; join two, eject one, re-join it: the hosts that stay lose no ping', async (t) => {
    const l = await lab('join', { hosts: 3, nics: 2, standalone: true });
    const hostNames = () => l.xe('host-list', 'params=name-label', '--minimal').then((s) => s.split(',').sort().join(','));
    assert.equal(await hostNames(), 'host1', 'standalone: the master knows only its own host');
    for (const h of ['host2', 'host3']) {
      const own = await xeOn(l, h, 'host-list', 'params=name-label', '--minimal');
      assert.deepEqual(own, { code: 0, out: h }, `${h} is a pool of one`);
    }

    for (const h of ['host2', 'host3']) assert.match(await labCli(l, 'join', h), new RegExp(`${h}: joined the pool with xe pool-join`));
    assert.equal(await hostNames(), 'host1,host2,host3');
    const slave = await xeOn(l, 'host2', 'host-list');
    assert.notEqual(slave.code, 0);
    assert.match(slave.out, /pool member[\s\S]*192\.0\.2\.11/, 'a member answers HOST_IS_SLAVE with its master\'s address');

    // A VLAN network and a cross-server private network across the three hosts.
    const vlan = await l.xe('network-create', 'name-label=vlan10');
    const priv = await l.xe('network-create', 'name-label=private');
    const wire = async (h: string): Promise<void> => {
      await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, h, 'eth1')}`, 'vlan=10', `network-uuid=${vlan}`);
      await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${priv}`, 'protocol=vxlan');
    };
    for (const h of ['host1', 'host2', 'host3']) await wire(h);
    const vms: Record<string, { v: string; p: string }> = {};
    for (const [i, h] of ['host1', 'host2', 'host3'].entries()) {
      vms[h] = { v: await makeVm(l, `v${i + 1}`, vlan), p: await makeVm(l, `p${i + 1}`, priv) };
      await startVm(l, vms[h].v, h, `198.51.100.${21 + i}/24`);
      await startVm(l, vms[h].p, h, `10.66.0.${1 + i}/24`);
    }
    for (const [to, what] of [['198.51.100.22', 'VLAN host1 -> host2'], ['198.51.100.23', 'VLAN host1 -> host3']]) {
      assert.ok(await l.pingSoon('v1', to!), what);
    }
    for (const [to, what] of [['10.66.0.2', 'private host1 -> host2'], ['10.66.0.3', 'private host1 -> host3']]) {
      assert.ok(await l.pingSoon('p1', to!), what);
    }
    assert.ok((await ports(l, 'host3')).some((p) => /^vif\d+\.0$/.test(p)), 'host3 has its guests\' ports');
    assert.ok((await tunnelsTo(l, 'host1', HOST3_IP)).length > 0, 'host1 has a tunnel to host3');

    const poolBridges = [await l.xe('network-param-get', `uuid=${vlan}`, 'param-name=bridge'), await l.xe('network-param-get', `uuid=${priv}`, 'param-name=bridge')];
    for (const b of poolBridges) assert.ok((await l.exec('host3', 'ovs-vsctl', 'br-exists', b)).code === 0, `host3 has the pool's bridge ${b}`);

    // Eject host3 while guests on host1 and host2 ping each other on both networks.
    const host3 = await l.xe('host-list', 'name-label=host3', 'params=uuid', '--minimal');
    const pings = [pingRun(l, 'v1', '198.51.100.22', 200), pingRun(l, 'p1', '10.66.0.2', 200)];
    let pingsDone = false;
    void Promise.all(pings).then(() => { pingsDone = true; }, () => undefined);
    const before = await l.xe('pif-list', 'params=uuid', '--minimal');
    await assert.rejects(l.xe('pool-eject', `host-uuid=${host3}`), /VM resident on host/, 'refused while its guests run');
    assert.equal(await l.xe('pif-list', 'params=uuid', '--minimal'), before, 'the refused eject changed nothing');
    assert.equal(await hostNames(), 'host1,host2,host3');
    for (const vm of [vms.host3!.v, vms.host3!.p]) await l.xe('vm-shutdown', `uuid=${vm}`);
    assert.match(await labCli(l, 'eject', 'host3'), /host3: ejected with xe pool-eject; standalone again/);
    assert.equal(pingsDone, false, 'the eject happened while the pings ran');
    assert.equal(await hostNames(), 'host1,host2');
    assert.equal(await l.xe('pif-list', 'host-uuid=' + host3, '--minimal'), '', 'no PIF of host3 is left in the pool');
    assert.deepEqual(await xeOn(l, 'host3', 'host-list', 'params=name-label', '--minimal'), { code: 0, out: 'host3' }, 'host3 is standalone again');
    for (const [param, value] of [['device', 'eth0'], ['IP', HOST3_IP]]) {
      const mgmt = await xeOn(l, 'host3', 'pif-list', 'management=true', `params=${param}`, '--minimal');
      assert.deepEqual(mgmt, { code: 0, out: value }, `with its management interface kept: ${param}`);
    }
    // Its guests are off the pool's networks: their ports and its tunnels are gone, on every host.
    await waitFor('host3 off the pool\'s bridges', 30_000, async () => {
      const left = [...(await ports(l, 'host3')).filter((p) => /^vif\d+\./.test(p) || /^t[0-9a-f]{6}\./.test(p)),
        ...await tunnelsTo(l, 'host1', HOST3_IP), ...await tunnelsTo(l, 'host2', HOST3_IP)];
      // The VLAN's and the private network's bridges are gone from host3.
      const bridges = (await l.exec('host3', 'ovs-vsctl', 'list-br')).stdout.trim().split('\n');
      return left.length === 0 && !bridges.some((b) => poolBridges.includes(b)) ? true : undefined;
    });
    assert.equal(await l.ping('v1', '198.51.100.23'), false, 'host3\'s VLAN guest is gone');
    assert.equal(await l.ping('p1', '10.66.0.3'), false, 'host3\'s private guest is gone');
    for (const r of await Promise.all(pings)) {
      t.diagnostic(`during the eject: ${r.sent - r.received} of ${r.sent} pings lost`);
      assert.equal(r.received, r.sent, `no ping lost by the hosts that stay:\n${r.text}`);
    }

    // host3 joins again; its guests come back on the pool's networks.
    const again = [pingRun(l, 'v1', '198.51.100.22', 150), pingRun(l, 'p1', '10.66.0.2', 150)];
    assert.match(await labCli(l, 'join', 'host3'), /host3: joined the pool/);
    assert.equal(await hostNames(), 'host1,host2,host3');
    assert.equal(await l.xe('host-list', 'name-label=host3', 'params=uuid', '--minimal'), host3, 'the same host, by its uuid');
    await wire('host3');
    await startVm(l, vms.host3!.v, 'host3', '198.51.100.23/24');
    await startVm(l, vms.host3!.p, 'host3', '10.66.0.3/24');
    assert.ok(await l.pingSoon('v1', '198.51.100.23'), 'VLAN host1 -> host3 again');
    assert.ok(await l.pingSoon('p1', '10.66.0.3'), 'private host1 -> host3 again');
    for (const r of await Promise.all(again)) {
      t.diagnostic(`during the re-join: ${r.sent - r.received} of ${r.sent} pings lost`);
      assert.equal(r.received, r.sent, `no ping lost by the hosts that stay:\n${r.text}`);
    }
    await l.down();
  });
});
