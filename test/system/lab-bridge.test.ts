// A lab on the Linux-bridge backend (`xcpnet lab up --backend bridge`): the hosts run no Open
// vSwitch; the agent, reading the host's network.conf, makes XenServer's bridges, and Debian's
// `brctl show` inside a host prints seed 003's picture: xenbr0 holding eth0 and the guests' vifs.
// Packets: guests on the external network reach each other, the other host and the upstream
// gateway. (The driver's VXLAN tunnels are run by the scenario suite: the master refuses
// tunnel.create on a bridge host, as xapi does.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canRunLab, labsOfThisFile, makeVm, pifNetwork, startVm } from '../../src/lab/testkit.js';

const skip = canRunLab();
const lab = labsOfThisFile();

/** `brctl show` → bridge name → [bridge id, STP, interfaces]. */
function parseBrctl(out: string): Map<string, { id: string; stp: string; interfaces: string[] }> {
  const m = new Map<string, { id: string; stp: string; interfaces: string[] }>();
  let cur: { id: string; stp: string; interfaces: string[] } | undefined;
  for (const line of out.split('\n').slice(1)) {
    if (line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    if (/^\S/.test(line)) {
      cur = { id: f[1]!, stp: f[2]!, interfaces: f.slice(3) };
      m.set(f[0]!, cur);
    } else cur?.interfaces.push(...f);
  }
  return m;
}

describe('lab on the bridge backend', { skip, concurrency: false }, () => {
  test('brctl show prints seed 003\'s xenbr0 with eth0 and the vifs; guests talk; software_version says bridge', async () => {
    const l = await lab('br', { hosts: 2, nics: 2, backend: 'bridge' });
    const host1 = await l.xe('host-list', 'name-label=host1', '--minimal');
    assert.equal(await l.xe('host-param-get', `uuid=${host1}`, 'param-name=software-version', 'param-key=network_backend'), 'bridge');
    const ovs = await l.exec('host1', 'sh', '-c', 'ls /run/openvswitch 2>/dev/null; ip -d link show type openvswitch');
    assert.equal(ovs.stdout.trim(), '', 'no Open vSwitch on a bridge host');

    const net0 = await pifNetwork(l, 'host1', 'eth0');
    const vms: string[] = [];
    for (const [i, name] of ['g1', 'g2', 'g3'].entries()) {
      const vm = await makeVm(l, name, net0);
      await startVm(l, vm, 'host1', `192.0.2.${121 + i}/24`);
      vms.push(vm);
    }
    const domids = await Promise.all(vms.map((vm) => l.xe('vm-param-get', `uuid=${vm}`, 'param-name=dom-id')));
    const br = await l.exec('host1', 'brctl', 'show');
    assert.equal(br.code, 0, br.stderr);
    assert.match(br.stdout.split('\n')[0]!, /^bridge name\s+bridge id\s+STP enabled\s+interfaces$/);
    const xenbr0 = parseBrctl(br.stdout).get('xenbr0');
    assert.ok(xenbr0, br.stdout);
    assert.equal(xenbr0.stp, 'no');
    const mac = await l.xe('pif-list', 'host-name-label=host1', 'device=eth0', 'VLAN=-1', 'params=MAC', '--minimal');
    assert.equal(xenbr0.id, `8000.${mac.replace(/:/g, '')}`, 'bridge id: priority 8000 and the PIF\'s MAC');
    assert.deepEqual(xenbr0.interfaces.sort(), ['eth0', ...domids.map((d) => `vif${d}.0`)].sort());

    assert.ok(await l.pingSoon('g1', '192.0.2.122'), 'guest -> guest on xenbr0');
    assert.ok(await l.pingSoon('g3', '192.0.2.1'), 'guest -> upstream gateway through eth0');
    assert.ok(await l.ping('g1', '192.0.2.12'), 'guest -> host2 management address');

    // As in xapi, tunnels (cross-server private networks) need Open vSwitch on every host.
    const priv = await l.xe('network-create', 'name-label=private');
    const eth0 = await l.xe('pif-list', 'host-name-label=host1', 'device=eth0', 'VLAN=-1', 'params=uuid', '--minimal');
    await assert.rejects(l.xe('tunnel-create', `pif-uuid=${eth0}`, `network-uuid=${priv}`, 'protocol=vxlan'), /Open vSwitch backend/);
  });
});
