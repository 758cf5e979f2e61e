import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileLabPlan, labPrefix, nicPlan, switchPorts, switchPortColumns, parseHostName, hostMgmtIp } from './plan.js';

test('prefix: short names kept, long names hashed, always fits interface names', () => {
  assert.equal(labPrefix('lab'), 'xllab-');
  assert.equal(labPrefix('abcde'), 'xlabcde-');
  const long = labPrefix('t1234567');
  assert.match(long, /^xl[0-9][0-9a-z]{4}-$/);
  assert.equal(labPrefix('t1234567'), long, 'stable');
  assert.notEqual(labPrefix('t1234568'), long);
  for (const name of ['lab', 'abcde', 't1234567', 'averyveryverylongname']) {
    const p = labPrefix(name);
    assert.ok(nicPlan(p, 99, 99).tmpName.length <= 15);
  }
  assert.throws(() => labPrefix('Bad'));
  assert.throws(() => labPrefix('a-b'));
  assert.throws(() => labPrefix(''));
});

test('plan: namespaces, NICs and cables', () => {
  const plan = compileLabPlan({ name: 'lab', hosts: 2, nics: 4 });
  assert.equal(plan.switch.ns, 'xllab-sw');
  assert.equal(plan.switch.bridge, 'sw0');
  assert.equal(plan.upstream.ns, 'xllab-up');
  assert.deepEqual(plan.hosts.map((h) => [h.name, h.ns, h.mgmtIp]),
    [['host1', 'xllab-host1', '192.0.2.11'], ['host2', 'xllab-host2', '192.0.2.12']]);
  const h1 = plan.hosts[0]!;
  assert.deepEqual(h1.nics.map((n) => n.device), ['eth0', 'eth1', 'eth2', 'eth3']);
  assert.deepEqual(h1.nics[2]!.cable, {
    port: 'xllab-h1e2', peerNs: 'xllab-host1', peerDevice: 'eth2', vlanMode: 'native-untagged', tag: 1,
  });
  const ports = switchPorts(plan).map((p) => p.port);
  assert.equal(ports.length, 1 + 2 * 4);
  assert.equal(new Set(ports).size, ports.length, 'port names unique');
  assert.equal(ports[0], 'xllab-up');
  for (const p of ports) assert.ok(p.startsWith(plan.prefix) && p.length <= 15);
});

test('plan: switch ports are 802.1Q trunks with native VLAN 1', () => {
  const plan = compileLabPlan({ name: 'lab', hosts: 1, nics: 1 });
  for (const p of switchPorts(plan)) assert.deepEqual(switchPortColumns(p), ['vlan_mode=native-untagged', 'tag=1']);
});

test('plan: addressing uses documentation ranges only', () => {
  const plan = compileLabPlan({ name: 'lab', hosts: 3, nics: 1 });
  assert.equal(plan.subnets.mgmt.cidr, '192.0.2.0/24');
  assert.equal(plan.subnets.vlan10.cidr, '198.51.100.0/24');
  assert.equal(plan.subnets.vlan20.cidr, '203.0.113.0/24');
  assert.deepEqual(plan.upstream.ifaces.map((i) => [i.vlan, i.address]),
    [[1, '192.0.2.1'], [10, '198.51.100.1'], [20, '203.0.113.1']]);
  assert.equal(hostMgmtIp(3), '192.0.2.13');
});

test('plan: bad sizes are refused', () => {
  assert.throws(() => compileLabPlan({ name: 'lab', hosts: 0, nics: 1 }));
  assert.throws(() => compileLabPlan({ name: 'lab', hosts: 100, nics: 1 }));
  assert.throws(() => compileLabPlan({ name: 'lab', hosts: 1, nics: 0 }));
  assert.throws(() => compileLabPlan({ name: 'lab', hosts: 1.5, nics: 1 }));
});

test('host names parse', () => {
  assert.equal(parseHostName('host7'), 7);
  assert.equal(parseHostName('host0'), undefined);
  assert.equal(parseHostName('hostx'), undefined);
});
