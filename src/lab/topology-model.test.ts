// The topology model, pure: records and observations in → labelled bridges and the graph views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTopology, formatBridgeLabels, formatDot, formatMermaid, formatTreeText, type Facts } from './topology-model.js';

const R = (s: string): string => `OpaqueRef:${s}`;
const NULL = 'OpaqueRef:NULL';

/** host1: eth0 (xenbr0), VLAN 10 on eth1, bond of eth2+eth3 (eth2 active), a GRE tunnel; VM "web" on VLAN 10. */
function facts(): Facts {
  const pif = (uuid: string, extra: Record<string, unknown>) => ({ uuid, host: R('h1'), currently_attached: true, physical: false, VLAN: -1,
    VLAN_master_of: NULL, bond_master_of: [], bond_slave_of: NULL, metrics: NULL, MAC: '', ...extra });
  return {
    records: {
      host: { [R('h1')]: { uuid: 'h1-uuid', name_label: 'host1' } },
      network: {
        [R('n0')]: { uuid: 'n0-uuid', name_label: 'Pool-wide network 0', bridge: 'xenbr0', MTU: 1500 },
        [R('n10')]: { uuid: 'n10-uuid', name_label: 'vlan10', bridge: 'xapi1', MTU: 1500 },
        [R('nb')]: { uuid: 'nb-uuid', name_label: 'bonded', bridge: 'xapi2', MTU: 1500 },
        [R('nt')]: { uuid: 'nt-uuid', name_label: "cross \"x\"", bridge: 'xapi3', MTU: 1450 },
        [R('n2')]: { uuid: 'n2-uuid', name_label: 'Pool-wide network 2', bridge: 'xenbr2', MTU: 1500 },
      },
      PIF: {
        [R('e0')]: pif('e0', { device: 'eth0', physical: true, network: R('n0'), MAC: '02:00:00:00:00:e0', metrics: R('m0') }),
        [R('e1')]: pif('e1', { device: 'eth1', physical: true, network: R('n1') }),
        [R('v10')]: pif('v10', { device: 'eth1', VLAN: 10, network: R('n10'), VLAN_master_of: R('vl') }),
        [R('e2')]: pif('e2', { device: 'eth2', physical: true, network: R('n2'), bond_slave_of: R('b') }),
        [R('e3')]: pif('e3', { device: 'eth3', physical: true, network: R('n3'), bond_slave_of: R('b') }),
        [R('b0')]: pif('b0', { device: 'bond0', network: R('nb'), bond_master_of: [R('b')] }),
        [R('t')]: pif('t', { device: 'tunnel0', network: R('nt') }),
      },
      PIF_metrics: { [R('m0')]: { carrier: true, speed: 10000 } },
      VLAN: { [R('vl')]: { tag: 10, tagged_PIF: R('e1') } },
      Bond: { [R('b')]: { master: R('b0'), slaves: [R('e2'), R('e3')], mode: 'active-backup', links_up: 2 } },
      tunnel: { [R('tt')]: { access_PIF: R('t'), transport_PIF: R('e0'), protocol: 'gre', status: { active: 'true' } } },
      VIF: { [R('vif')]: { uuid: 'vif-uuid', VM: R('vm'), network: R('n10'), device: '0', MAC: '02:00:00:00:00:01', locking_mode: 'network_default', currently_attached: true } },
      VM: { [R('vm')]: { uuid: 'vm-uuid', name_label: 'web', power_state: 'Running', resident_on: R('h1'), domid: 3, is_control_domain: false } },
    },
    observed: { host1: { nics: { eth0: { carrier: true }, eth1: { carrier: false } }, ovs: [
      { name: 'xapi2', ports: [{ name: 'bond0', bondActiveMac: '02:00:00:00:00:e2', interfaces: [{ name: 'eth2', type: 'system', mac: '02:00:00:00:00:e2' }, { name: 'eth3', type: 'system', mac: '02:00:00:00:00:e3' }] }] },
      { name: 'xapi3', ports: [{ name: 'th2', interfaces: [{ name: 'th2', type: 'gre', remote: '192.0.2.12', key: '5' }] }] },
    ] } },
    switchPorts: { 'host1/eth0': { port: 'xllab-h1e0', up: true, vlanMode: 'native-untagged', tag: 1, trunks: [] } },
    labSwitch: { bridge: 'sw0', dbSocket: 'unix:/x' },
  };
}

test('a bond\'s active member comes from Bond.active_member when the record has one, from OVS otherwise', () => {
  const f = facts();
  f.records.Bond[R('b')]!.active_member = R('e3');
  assert.equal(buildTopology(f).hosts[0]!.bridges.find((b) => b.name === 'xapi2')?.bond?.active, 'eth3', 'the record over OVS');
  delete f.observed;
  assert.equal(buildTopology(f).hosts[0]!.bridges.find((b) => b.name === 'xapi2')?.bond?.active, 'eth3', 'no host observed: the record');
  f.records.Bond[R('b')]!.active_member = 'OpaqueRef:NULL';
  assert.equal(buildTopology(f).hosts[0]!.bridges.find((b) => b.name === 'xapi2')?.bond?.active, undefined);
});

test('bridges are labelled with network, VLAN and parent, bond with its active member, tunnel remote and key, and the VM behind each vif', () => {
  const t = buildTopology(facts());
  assert.deepEqual(t.hosts[0]!.bridges.map((b) => b.name), ['xapi1', 'xapi2', 'xapi3', 'xenbr0'], 'a bond member\'s own network has no bridge');
  assert.equal(formatBridgeLabels(t.hosts[0]!), [
    'xapi1: network "vlan10" n10-uuid, MTU 1500, VLAN 10 on eth1',
    '  vif3.0 = VM "web" eth0, MAC 02:00:00:00:00:01, locking unlocked',
    'xapi2: network "bonded" nb-uuid, MTU 1500, bond bond0 active-backup of eth2+eth3, 2 up, active eth2',
    'xapi3: network "cross "x"" nt-uuid, MTU 1450',
    '  tunnel th2: gre to 192.0.2.12, key 5',
    'xenbr0: network "Pool-wide network 0" n0-uuid, MTU 1500, uplink eth0',
    '',
  ].join('\n'));
  assert.deepEqual(t.hosts[0]!.nics.map((n) => [n.device, n.carrier]), [['eth0', true], ['eth1', false], ['eth2', undefined], ['eth3', undefined]]);
});

test('text, DOT and Mermaid views of the same model', () => {
  const t = buildTopology(facts());
  const text = formatTreeText(t);
  assert.match(text, /^ {2}nic eth0 02:00:00:00:00:e0 carrier yes 10000 Mbit\/s — cable in to sw0 port xllab-h1e0 \(native 1, trunks all\)$/m);
  assert.match(text, /^ {2}nic eth1 {2}carrier NO$/m);
  const dot = formatDot(t);
  assert.match(dot, /^graph xcpnet \{/);
  assert.match(dot, /host1_eth0 -- switch \[label="xllab-h1e0"\];/);
  assert.match(dot, /host1_bond0 -- host1_eth2 \[label="active"\];/);
  assert.match(dot, /host1_xapi3 \[label="xapi3 cross \\"x\\""\];/, 'quotes are escaped');
  assert.match(dot, /vm_vm_uuid -- host1_xapi1 \[label="eth0=vif3.0"\];/);
  const mermaid = formatMermaid(t);
  assert.match(mermaid, /^graph LR\n/);
  assert.match(mermaid, /subgraph host_host1\["host host1"\]/);
  assert.match(mermaid, /host1_xapi3\["xapi3 cross #quot;x#quot;"\]/);
  assert.match(mermaid, /host1_xapi1 ---\|"tag 10"\| host1_eth1/);
});
