// `xcpnet explain` in a real lab: one lab, one test per planted fault. Each test plants the fault
// with xe, the lab's switch or its cables, checks that `xcpnet explain --json` (run as a user
// runs it) names it, checks with packets where a ping shows it, and undoes it.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labsOfThisFile, makeVm, startVm, pifUuid, pifNetwork, canRunLab, type TestLab } from '../../src/lab/testkit.js';
import { labCable } from '../../src/lab/index.js';
import { masterClient } from '../../src/lab/pool.js';
import type { Explanation } from '../../src/lab/explain.js';

const XCPNET = join(fileURLToPath(new URL('../../..', import.meta.url)), 'bin', 'xcpnet');
const skip = canRunLab();
const lab = labsOfThisFile();

function explain(l: TestLab, a: string, b: string): Promise<Explanation> {
  return new Promise((resolve, reject) => {
    execFile(XCPNET, ['explain', a, b, '--json', '--name', l.name], { env: { ...process.env, XCPNET_LAB_STATE_DIR: l.stateDir }, timeout: 60_000 }, (err, stdout, stderr) => {
      // Exit status 1 means "cannot reach": the answer is still on standard output.
      if (err && (err.code !== 1 || !stdout)) reject(new Error(`xcpnet explain ${a} ${b}: ${stderr || err.message}`));
      else resolve(JSON.parse(String(stdout)) as Explanation);
    });
  });
}

const codesOf = (e: Explanation): string[] => e.reasons.map((r) => r.code);

describe('xcpnet explain finds each planted fault', { skip, concurrency: false }, () => {
  let l: TestLab;
  let hostUuid: Record<string, string>;
  // Through the API: this xe does not yet turn a host uuid into a ref for affinity=.
  const setAffinity = async (vm: string, host: string): Promise<void> => {
    const c = await masterClient(l.state);
    try {
      await c.call('VM.set_affinity', await c.call<string>('VM.get_by_uuid', vm), await c.call<string>('host.get_by_uuid', hostUuid[host]));
    } finally { await c.close(); }
  };
  const cable = (host: string, device: string, state: 'up' | 'down') => labCable({ name: l.name, stateDir: l.stateDir, host, device, state, progress: () => undefined });

  before(async () => {
    l = await lab('expl', { hosts: 2, nics: 5 });
    hostUuid = {
      host1: await l.xe('host-list', 'name-label=host1', '--minimal'),
      host2: await l.xe('host-list', 'name-label=host2', '--minimal'),
    };
  });

  test('different networks', async () => {
    await startVm(l, await makeVm(l, 'd1', await l.xe('network-create', 'name-label=d-a')), 'host1', '10.61.0.1/24');
    await startVm(l, await makeVm(l, 'd2', await l.xe('network-create', 'name-label=d-b')), 'host1', '10.61.0.2/24');
    const e = await explain(l, 'd1', 'd2');
    assert.deepEqual(codesOf(e), ['different-networks']);
    assert.match(e.reasons[0]!.fix, /^xe vif-move uuid=[0-9a-f-]{36} network-uuid=[0-9a-f-]{36}/);
    assert.equal(await l.ping('d1', '10.61.0.2'), false);
  });

  test('a private network pinned to another host; and reachable once started there', async () => {
    const net = await l.xe('network-create', 'name-label=pinned');
    await startVm(l, await makeVm(l, 'p1', net), 'host1', '10.62.0.1/24');
    const p2 = await makeVm(l, 'p2', net);
    await setAffinity(p2, 'host2');
    const e = await explain(l, 'p1', 'p2');
    assert.deepEqual(codesOf(e), ['vm-halted', 'private-pinned']);
    assert.equal(e.reasons[0]!.fix, `xe vm-start uuid=${p2} on=host1`);
    await startVm(l, p2, 'host1', '10.62.0.2/24');
    assert.equal((await explain(l, 'p1', 'p2')).reachable, true);
    assert.ok(await l.pingSoon('p1', '10.62.0.2'));
  });

  test('the network absent on a host, then the VLAN tag not carried by the switch', async () => {
    const v10 = await l.xe('network-create', 'name-label=v10');
    await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, 'host1', 'eth1')}`, 'vlan=10', `network-uuid=${v10}`);
    await startVm(l, await makeVm(l, 'n1', v10), 'host1', '10.63.0.1/24');
    const n2 = await makeVm(l, 'n2', v10);
    await setAffinity(n2, 'host2');
    const absent = await explain(l, 'n1', 'n2');
    assert.deepEqual(codesOf(absent), ['vm-halted', 'network-absent']);
    const fix = absent.reasons[1]!.fix;
    assert.equal(fix, `xe vlan-create pif-uuid=${await pifUuid(l, 'host2', 'eth1')} vlan=10 network-uuid=${v10}`);
    await l.xe(...fix.split(' ').slice(1));
    await startVm(l, n2, 'host2', '10.63.0.2/24');
    assert.ok(await l.pingSoon('n1', '10.63.0.2'), 'the fix works');

    const sw = l.state.switch!.ovs!.dbSocket;
    const port = `${l.state.prefix.replace(/-$/, '')}-h2e1`;
    const vsctl = (...args: string[]) => new Promise<void>((res, rej) => execFile('ovs-vsctl', [`--db=${sw}`, ...args], (e) => (e ? rej(e) : res())));
    await vsctl('set', 'port', port, 'trunks=1,20');
    const notCarried = await explain(l, 'n1', 'n2');
    assert.deepEqual(codesOf(notCarried), ['vlan-not-carried']);
    assert.match(notCarried.reasons[0]!.object, new RegExp(port));
    assert.equal(await l.ping('n1', '10.63.0.2'), false, 'no VLAN 10 frame crosses that port');
    const [cmd, ...args] = notCarried.reasons[0]!.fix.split(' ');
    assert.equal(cmd, 'ovs-vsctl');
    await new Promise<void>((res, rej) => execFile(cmd, args, (e) => (e ? rej(e) : res())));
    assert.ok(await l.pingSoon('n1', '10.63.0.2'), 'the fix works');
  });

  test('cable down', async () => {
    const net = await pifNetwork(l, 'host1', 'eth2');
    await startVm(l, await makeVm(l, 'c1', net), 'host1', '10.64.0.1/24');
    await startVm(l, await makeVm(l, 'c2', net), 'host2', '10.64.0.2/24');
    assert.ok(await l.pingSoon('c1', '10.64.0.2'));
    await cable('host2', 'eth2', 'down');
    const e = await explain(l, 'c1', 'c2');
    assert.deepEqual(codesOf(e), ['cable-down']);
    assert.equal(e.reasons[0]!.fix, 'xcpnet lab cable host2 eth2 up');
    await cable('host2', 'eth2', 'up');
    assert.equal((await explain(l, 'c1', 'c2')).reachable, true);
  });

  test('bond members down', async () => {
    const net = await l.xe('network-create', 'name-label=bonded');
    for (const h of ['host1', 'host2']) {
      await l.xe('bond-create', `network-uuid=${net}`, `pif-uuids=${await pifUuid(l, h, 'eth3')},${await pifUuid(l, h, 'eth4')}`, 'mode=active-backup');
    }
    await startVm(l, await makeVm(l, 'b1', net), 'host1', '10.65.0.1/24');
    await startVm(l, await makeVm(l, 'b2', net), 'host2', '10.65.0.2/24');
    assert.ok(await l.pingSoon('b1', '10.65.0.2'));
    await cable('host2', 'eth3', 'down');
    assert.equal((await explain(l, 'b1', 'b2')).reachable, true, 'one member is enough');
    await cable('host2', 'eth4', 'down');
    const e = await explain(l, 'b1', 'b2');
    assert.deepEqual(codesOf(e), ['bond-down']);
    assert.equal(e.reasons[0]!.fix, 'xcpnet lab cable host2 eth3 up; xcpnet lab cable host2 eth4 up');
    assert.equal(await l.ping('b1', '10.65.0.2'), false);
  });

  test('tunnel missing, MTU larger than the tunnel carries', async () => {
    const net = await l.xe('network-create', 'name-label=tun', 'MTU=1400');
    await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, 'host1', 'eth0')}`, `network-uuid=${net}`, 'protocol=vxlan');
    await startVm(l, await makeVm(l, 't1', net), 'host1', '10.66.0.1/24');
    const t2 = await makeVm(l, 't2', net);
    await setAffinity(t2, 'host2');
    const missing = await explain(l, 't1', 't2');
    assert.deepEqual(codesOf(missing), ['vm-halted', 'tunnel-missing']);
    await l.xe(...missing.reasons[1]!.fix.split(' ').slice(1));
    await startVm(l, t2, 'host2', '10.66.0.2/24');
    assert.ok(await l.pingSoon('t1', '10.66.0.2', 15), 'the fix works (once the mesh has added the tunnel ports)');
    assert.equal((await explain(l, 't1', 't2')).reachable, true);

    // The network cannot be made larger than its vxlan tunnels carry: refused, nothing changed.
    await assert.rejects(l.xe('network-param-set', `uuid=${net}`, 'MTU=1500'), /not acceptable for the named field[\s\S]*field: MTU[\s\S]*at most 1450 fits once encapsulated/);
    assert.equal(await l.xe('network-param-get', `uuid=${net}`, 'param-name=MTU'), '1400');
    // A guest larger than the network carries: the MTU it needs, and the fix works.
    await l.exec('t2', 'ip', 'link', 'set', 'eth0', 'mtu', '1500');
    const big = await explain(l, 't1', 't2');
    assert.deepEqual(codesOf(big), ['guest-mtu-too-large']);
    assert.match(big.reasons[0]!.message, /VM "t2" eth0 has MTU 1500, .* the guest needs MTU 1400/);
    assert.equal(big.reasons[0]!.fix, 'xcpnet lab exec t2 -- ip link set eth0 mtu 1400');
    await l.exec('t2', 'ip', 'link', 'set', 'eth0', 'mtu', '1400');
    assert.equal((await explain(l, 't1', 't2')).reachable, true);
  });

  test('VIF locking refusing the IP', async () => {
    const net = await l.xe('network-create', 'name-label=locked');
    await startVm(l, await makeVm(l, 'k1', net), 'host1', '10.67.0.1/24');
    const k2 = await makeVm(l, 'k2', net);
    await startVm(l, k2, 'host1', '10.67.0.2/24');
    assert.ok(await l.pingSoon('k1', '10.67.0.2'));
    const vif = await l.xe('vif-list', `vm-uuid=${k2}`, '--minimal');
    await l.xe('vif-param-set', `uuid=${vif}`, 'locking-mode=locked', 'ipv4-allowed=10.67.0.99');
    const e = await explain(l, 'k1', 'k2');
    assert.deepEqual(codesOf(e), ['vif-locking']);
    assert.match(e.reasons[0]!.message, /10\.67\.0\.2 is not among its allowed addresses \(10\.67\.0\.99\)/);
    assert.equal(await l.ping('k1', '10.67.0.2'), false, 'the locked VIF drops it');
    await l.xe(...e.reasons[0]!.fix.split(' ').slice(1));
    assert.equal((await explain(l, 'k1', 'k2')).reachable, true);
    assert.ok(await l.pingSoon('k1', '10.67.0.2'), 'the fix works');
  });

  test('VIF unplugged, VM halted', async () => {
    const vif = await l.xe('vif-list', `vm-uuid=${await l.xe('vm-list', 'name-label=k2', '--minimal')}`, '--minimal');
    await l.xe('vif-unplug', `uuid=${vif}`);
    assert.deepEqual(codesOf(await explain(l, 'k1', 'k2')), ['vif-unplugged']);
    await l.xe('vm-shutdown', `uuid=${await l.xe('vm-list', 'name-label=k1', '--minimal')}`, '--force');
    assert.deepEqual(codesOf(await explain(l, 'k1', 'k2')), ['vm-halted', 'vif-unplugged']);
  });
});

describe('xcpnet trace walks a frame hop by hop with names', { skip, concurrency: false }, () => {
  test('a VLAN 10 frame through host1, the switch trunk and host2; a tunnel frame through its outer hop', async () => {
    const l = await lab('trc', { hosts: 2, nics: 2 });
    const v10 = await l.xe('network-create', 'name-label=v10');
    for (const h of ['host1', 'host2']) await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, h, 'eth1')}`, 'vlan=10', `network-uuid=${v10}`);
    await startVm(l, await makeVm(l, 'r1', v10), 'host1', '10.70.0.1/24');
    await startVm(l, await makeVm(l, 'r2', v10), 'host2', '10.70.0.2/24');
    assert.ok(await l.pingSoon('r1', '10.70.0.2'));
    const trace = (a: string, b: string) => new Promise<string>((resolve, reject) => {
      execFile(XCPNET, ['trace', a, b, '--name', l.name], { env: { ...process.env, XCPNET_LAB_STATE_DIR: l.stateDir }, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`xcpnet trace: ${stderr}`)) : resolve(String(stdout))));
    });
    const vlan = await trace('r1', 'r2');
    const sw1 = `${l.state.prefix.replace(/-$/, '')}-h1e1`;
    const sw2 = `${l.state.prefix.replace(/-$/, '')}-h2e1`;
    assert.match(vlan, /^1\. host1 bridge xenbr1: in vif\d+\.0 \(VM "r1"\)\n {5}out eth1 tagged VLAN 10 → switch port /m, vlan);
    assert.match(vlan, new RegExp(`^2\\. switch sw0: in ${sw1} \\(host1 eth1\\) tagged VLAN 10\\n {5}out ${sw2} tagged VLAN 10 → host2 eth1$`, 'm'), vlan);
    assert.match(vlan, /^3\. host2 bridge xenbr1: in eth1 from \S+ tagged VLAN 10\n {5}out vif\d+\.0 → VM "r2": delivered$/m, vlan);

    const tun = await l.xe('network-create', 'name-label=tun', 'MTU=1400');
    for (const h of ['host1', 'host2']) await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${tun}`, 'protocol=gre');
    await startVm(l, await makeVm(l, 'g1', tun), 'host1', '10.71.0.1/24');
    await startVm(l, await makeVm(l, 'g2', tun), 'host2', '10.71.0.2/24');
    assert.ok(await l.pingSoon('g1', '10.71.0.2', 10));
    const g = await trace('g1', 'g2');
    assert.match(g, /^1\. host1 bridge xapi\d+: in vif\d+\.0 \(VM "g1"\)\n {5}out tunnel gre key \d+ from 192\.0\.2\.11 to 192\.0\.2\.12 \(host2\), encapsulated\n {5}out eth0 \(the tunnel's outer frame\) → switch port /m, g);
    assert.match(g, /^2\. switch sw0: in \S+ \(host1 eth0\), outer frame 192\.0\.2\.11 → 192\.0\.2\.12\n {5}out \S+ → host2 eth0 \(decapsulated there: next hop\)/m, g);
    assert.match(g, /^3\. host2 bridge xapi\d+: in tunnel \S+ from host1 \(decapsulated\)\n {5}out vif\d+\.0 → VM "g2": delivered$/m, g);
    await l.down();
  });
});
