// The lab's physical layer with real packets: switch trunks, native VLAN 1, tagged VLANs to
// upstream, cables, hot-added NICs, and a teardown that leaves nothing behind.
// No agent here: addresses and host bridges are set by hand inside the lab's host namespaces.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { labUp, labDown, labStatus, labAddNic, labCable, labExec, type LabState } from '../../src/lab/index.js';
import { readStartTime } from '../../src/lab/state.js';

const isRoot = process.getuid?.() === 0;
const hasOvs = (() => { try { execFileSync('ovs-vswitchd', ['--version']); return true; } catch { return false; } })();
const skip = !isRoot || !hasOvs ? 'needs root and Open vSwitch' : false;

const name = `t${process.pid}`;
const stateDir = mkdtempSync('/tmp/xcpt-lab-');
const opts = { name, stateDir, progress: (l: string) => lines.push(l) };
const lines: string[] = [];

async function sh(target: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return labExec({ ...opts, target, argv, capture: true, timeoutMs: 20_000 });
}
/** One bounded ping (2 packets, 1 s each). */
async function pings(target: string, addr: string): Promise<boolean> {
  return (await sh(target, 'ping', '-c', '2', '-W', '1', addr)).code === 0;
}
/** Bounded retries for paths that need a moment (ARP after a cable comes back). */
async function pingsSoon(target: string, addr: string, tries = 4): Promise<boolean> {
  for (let i = 0; i < tries; i++) if ((await sh(target, 'ping', '-c', '1', '-W', '1', addr)).code === 0) return true;
  return false;
}

after(() => rmSync(stateDir, { recursive: true, force: true }));

describe('lab topology', { skip }, () => {
  let state: LabState;

  before(async () => {
    state = await labUp({ ...opts, hosts: 2, nics: 4, pool: false });
  });

  after(async () => {
    // Teardown even when a test failed; the last test asserts on it, this is the safety net.
    await labDown(opts).catch(() => undefined);
  });

  test('up builds switch, upstream and hosts with trunk ports, and prints progress', async () => {
    assert.ok(lines.some((l) => l.includes('switch')) && lines.some((l) => l.includes('host2')), lines.join('\n'));
    const s = await labStatus(opts);
    assert.equal(s.status, 'up');
    assert.deepEqual(s.hosts.map((h) => h.name), ['host1', 'host2']);
    for (const h of s.hosts) {
      assert.ok(h.present && h.ovs, `${h.name} present with its OVS`);
      assert.deepEqual(h.nics.map((n) => [n.device, n.carrier]), [['eth0', true], ['eth1', true], ['eth2', true], ['eth3', true]]);
    }
    assert.equal(s.switch.ports.length, 9);
    for (const p of s.switch.ports) {
      assert.equal(p.vlanMode, 'native-untagged', p.port);
      assert.equal(p.tag, 1, p.port);
      assert.deepEqual(p.trunks, [], `${p.port} trunks every VLAN`);
    }
    assert.ok(s.upstream.addresses.includes('up0 192.0.2.1/24'), s.upstream.addresses.join());
    assert.ok(s.upstream.addresses.includes('vlan10 198.51.100.1/24'));
    assert.ok(s.upstream.addresses.includes('vlan20 203.0.113.1/24'));
  });

  test('up again on a lab that is up changes nothing', async () => {
    const before = JSON.stringify(state.processes);
    lines.length = 0;
    const again = await labUp({ ...opts, hosts: 2, nics: 4, pool: false });
    assert.equal(JSON.stringify(again.processes), before);
    assert.match(lines.join('\n'), /already up/);
  });

  test('management subnet on the native VLAN: host to host and host to gateway', async () => {
    await sh('host1', 'ip', 'addr', 'add', '192.0.2.11/24', 'dev', 'eth0');
    await sh('host2', 'ip', 'addr', 'add', '192.0.2.12/24', 'dev', 'eth0');
    assert.ok(await pingsSoon('host1', '192.0.2.12'), 'host1 eth0 -> host2 eth0');
    assert.ok(await pings('host2', '192.0.2.1'), 'host2 -> upstream gateway');
  });

  test('VLAN 10 reaches upstream tagged; an untagged address in that subnet is isolated', async () => {
    // Tag VLAN 10 with the host's own OVS (lab exec points ovs-vsctl at it).
    const r = await sh('host1', 'ovs-vsctl', 'add-br', 'tb', '--', 'set', 'bridge', 'tb', 'datapath_type=netdev',
      '--', 'add-port', 'tb', 'eth1', '--', 'add-port', 'tb', 't10', 'tag=10', '--', 'set', 'interface', 't10', 'type=internal');
    assert.equal(r.code, 0, r.stderr);
    await sh('host1', 'ip', 'link', 'set', 't10', 'up');
    await sh('host1', 'ip', 'addr', 'add', '198.51.100.21/24', 'dev', 't10');
    assert.ok(await pingsSoon('host1', '198.51.100.1'), 'VLAN 10 sub-interface -> upstream VLAN 10');
    // Untagged frames land in the native VLAN 1, never in VLAN 10.
    await sh('host2', 'ip', 'addr', 'add', '198.51.100.22/24', 'dev', 'eth2');
    assert.equal(await pings('host2', '198.51.100.1'), false, 'untagged 198.51.100.22 must not reach VLAN 10');
    assert.equal(await pings('host2', '198.51.100.21'), false, 'nor host1 VLAN 10');
  });

  test('pulling a cable cuts the path and shows no carrier; plugging it back restores it', async () => {
    await labCable({ ...opts, host: 'host1', device: 'eth0', state: 'down' });
    let s = await labStatus(opts);
    const nic = () => s.hosts[0]!.nics.find((n) => n.device === 'eth0')!;
    assert.equal(nic().cable, 'down');
    assert.equal(nic().carrier, false);
    assert.equal(await pings('host1', '192.0.2.12'), false, 'no path with the cable pulled');
    await labCable({ ...opts, host: 'host1', device: 'eth0', state: 'up' });
    s = await labStatus(opts);
    assert.equal(nic().carrier, true);
    assert.ok(await pingsSoon('host1', '192.0.2.12'), 'path back with the cable in');
  });

  test('add-nic hot-adds eth4, cabled to a trunk port', async () => {
    const dev = await labAddNic({ ...opts, host: 'host1' });
    assert.equal(dev, 'eth4');
    const r = await sh('host1', 'ip', '-o', 'link', 'show', 'eth4');
    assert.equal(r.code, 0, 'eth4 is in the host namespace');
    const s = await labStatus(opts);
    const e4 = s.hosts[0]!.nics.find((n) => n.device === 'eth4');
    assert.ok(e4?.carrier, 'eth4 has carrier');
    const port = s.switch.ports.find((p) => p.port === e4!.switchPort);
    assert.equal(port?.vlanMode, 'native-untagged');
    assert.equal(port?.tag, 1);
  });

  test('down leaves no namespace, link or process of the lab', async () => {
    const prefix = state.prefix;
    assert.ok(state.processes.length >= 8, 'two OVS daemons each for switch, upstream and 2 hosts');
    await labDown(opts);
    const nsList = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.ok(!nsList.includes(prefix), `namespaces left: ${nsList}`);
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    assert.ok(!links.includes(prefix), 'no lab link in the machine namespace');
    for (const p of state.processes) assert.equal(readStartTime(p.pid), undefined, `${p.what} (pid ${p.pid}) is gone`);
    // Running down again is harmless.
    await labDown(opts);
  });
});

describe('lab down after a crash that left no state file', { skip }, () => {
  const crashName = `c${process.pid}`;
  const crashOpts = { name: crashName, stateDir, progress: () => undefined };

  after(async () => {
    await labDown(crashOpts).catch(() => undefined);
  });

  test('finds the lab by its prefix and its pidfiles', async () => {
    const st = await labUp({ ...crashOpts, hosts: 1, nics: 1, pool: false });
    rmSync(`${st.dir}/state.json`);
    const report = await labDown(crashOpts);
    assert.ok(report.namespaces.length >= 3, `namespaces removed: ${report.namespaces.join(' ')}`);
    assert.equal(report.pids.length, st.processes.length, 'every OVS daemon found through its pidfile');
    const nsList = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.ok(!nsList.includes(st.prefix), nsList);
    for (const p of st.processes) assert.equal(readStartTime(p.pid), undefined, `${p.what} is gone`);
  });
});
