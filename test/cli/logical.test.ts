// VLANs, bonds and tunnels: their dedicated commands and generated commands (vlan has no
// param-set; bond has param-set/param-clear only through properties).
import { after, before, test } from 'node:test';
import { scanSteps, unknownCommand, internal, doc, lines, record, runTranscript, startServer, type Server, type Vars } from './harness.js';


let server: Server;
const vars: Vars = {};
before(async () => {
  server = await startServer();
  await runTranscript(server, [
    ...scanSteps(['eth1', 'eth2', 'eth3']),
  ], vars);
});
after(async () => { await server?.stop(); });

test('vlan-create, vlan-list, vlan-param-*, pool-vlan-create, vlan-destroy', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=vlan20', stdout: '{?vnet}\n' },
    { cmd: 'vlan-create pif-uuid={eth1} vlan=20 network-uuid={vnet}', stdout: '{?vpif}\n' },
    { cmd: 'vlan-list untagged-PIF={vpif}', stdout: record([
      ['uuid ( RO)', '{?vlan}'],
      ['tagged-PIF ( RO)', '{eth1}'],
      ['untagged-PIF ( RO)', '{vpif}'],
      ['tag ( RO)', '20'],
    ]) },
    { cmd: 'vlan-param-list uuid={vlan}', stdout: record([
      ['uuid ( RO)', '{vlan}'],
      ['tagged-PIF ( RO)', '{eth1}'],
      ['untagged-PIF ( RO)', '{vpif}'],
      ['tag ( RO)', '20'],
    ]) },
    { cmd: 'vlan-param-get uuid={vlan} param-name=tag', stdout: '20\n' },
    { cmd: 'vlan-list tag=20 --minimal', stdout: '{vlan}\n' },
    { cmd: 'vlan-param-set uuid={vlan} tag=21', stderr: unknownCommand('vlan-param-set') },
    { cmd: 'vlan-param-add uuid={vlan} param-name=other-config a=b', stderr: unknownCommand('vlan-param-add') },
    { cmd: 'vlan-param-clear uuid={vlan} param-name=tag', stderr: unknownCommand('vlan-param-clear') },
    { cmd: 'pif-list uuid={vpif} params=device,MAC,VLAN,vlan-master-of,network-uuid,currently-attached', stdout: record([
      ['device ( RO)', 'eth1'],
      ['MAC ( RO)', 'fe:ff:ff:ff:ff:ff'],
      ['currently-attached ( RO)', 'true'],
      ['VLAN ( RO)', '20'],
      ['vlan-master-of ( RO)', '{vlan}'],
      ['network-uuid ( RO)', '{vnet}'],
    ]) },
    { cmd: 'pif-param-get uuid={eth1} param-name=vlan-slave-of', stdout: '{vlan}\n' },
    { cmd: 'vlan-create pif-uuid={eth1} vlan=ten network-uuid={vnet}', stderr: "Error: Failed to parse parameter 'vlan': expecting an integer\n" },
    { cmd: 'network-create name-label=other', stdout: '{?onet}\n' },
    { cmd: 'vlan-create pif-uuid={eth1} vlan=5000 network-uuid={onet}', stderr: lines(doc('VLAN_TAG_INVALID'), 'VLAN: 5000') },
    { cmd: 'vlan-create pif-uuid={eth1} vlan=20 network-uuid={onet}', stderr: lines(doc('PIF_VLAN_EXISTS'), 'PIF: eth1') },
    { cmd: 'vlan-create pif-uuid={vpif} vlan=30 network-uuid={onet}', stderr: lines(doc('PIF_IS_VLAN'), 'PIF: {vpif}') },
    { cmd: 'vlan-create pif-uuid={eth2} vlan=20 network-uuid={vnet}',
      stderr: lines(doc('NETWORK_ALREADY_CONNECTED'), 'network: {host} ({*})', 'connected PIF: {vpif}') },
    { cmd: 'pif-forget uuid={eth1}', stderr: lines(doc('PIF_VLAN_STILL_EXISTS'), 'PIF: {eth1}') },
    { cmd: 'network-create name-label=pool-vlan30', stdout: '{?pnet}\n' },
    { cmd: 'pool-vlan-create pif-uuid={eth2} vlan=30 network-uuid={pnet}', stdout: '{?ppif}\n' },
    // Legacy: a VLAN PIF's uuid destroys its VLAN.
    { cmd: 'vlan-destroy uuid={ppif}' },
    { cmd: 'vlan-list tag=30 --minimal', stdout: '\n' },
    { cmd: 'vlan-destroy uuid={eth2}', stderr: lines(doc('PIF_IS_PHYSICAL'), 'PIF: <unknown>') },
    { cmd: 'vlan-destroy uuid={vlan}' },
    { cmd: 'vlan-list --minimal', stdout: '\n' },
    { cmd: 'vlan-destroy uuid={vlan}', stderr: lines(doc('UUID_INVALID'), 'type: VLAN', 'uuid: {vlan}') },
  ], vars);
});

test('bond-create, bond-list, bond-param-*, bond-set-mode, bond-destroy', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=bond0', stdout: '{?bnet}\n' },
    { cmd: 'bond-create network-uuid={bnet} pif-uuids={eth2},{eth3} mode=LACP properties:lacp-time=fast', stdout: '{?bond}\n' },
    { cmd: 'bond-list uuid={bond}', stdout: record([
      ['uuid ( RO)', '{bond}'],
      ['master ( RO)', '{?master}'],
      ['slaves ( RO)', '{eth2}; {eth3}'],
    ]) },
    { cmd: 'bond-param-list uuid={bond}', stdout: record([
      ['uuid ( RO)', '{bond}'],
      ['master ( RO)', '{master}'],
      ['slaves ( RO)', '{eth2}; {eth3}'],
      ['mode ( RO)', 'lacp'],
      ['properties (MRO)', 'hashing_algorithm: tcpudp_ports; lacp-time: fast; lacp-fallback-ab: true'],
      ['primary-slave ( RO)', '{eth2}'],
      ['links-up ( RO)', '2'],
      ['auto-update-mac ( RO)', 'true'],
    ]) },
    { cmd: 'bond-param-get uuid={bond} param-name=properties param-key=lacp-time', stdout: 'fast\n' },
    { cmd: 'bond-param-get uuid={bond} param-name=properties param-key=hashing_algorithm', stdout: 'tcpudp_ports\n' },
    { cmd: 'pif-param-get uuid={master} param-name=device', stdout: 'bond0\n' },
    { cmd: 'pif-param-get uuid={master} param-name=bond-master-of', stdout: '{bond}\n' },
    { cmd: 'pif-param-get uuid={eth2} param-name=bond-slave-of', stdout: '{bond}\n' },
    { cmd: 'bond-param-set uuid={bond} properties:lacp-time=slow' },
    { cmd: 'bond-param-get uuid={bond} param-name=properties param-key=lacp-time', stdout: 'slow\n' },
    { cmd: 'bond-param-set uuid={bond} properties:lacp-time=sometimes', stderr: lines(doc('INVALID_VALUE'), 'field: properties', 'value: lacp-time = sometimes') },
    { cmd: 'bond-param-set uuid={bond} mode=active-backup', stderr: internal("Field 'mode' is read-only.") },
    { cmd: 'bond-param-clear uuid={bond} param-name=properties', stderr: internal('Can only clear RW parameters') },
    { cmd: 'bond-param-add uuid={bond} param-name=properties a=b', stderr: unknownCommand('bond-param-add') },
    { cmd: 'bond-param-remove uuid={bond} param-name=properties param-key=a', stderr: unknownCommand('bond-param-remove') },
    { cmd: 'bond-set-mode uuid={bond} mode=active-backup' },
    { cmd: 'bond-list uuid={bond} params=mode,properties', stdout: record([
      ['mode ( RO)', 'active-backup'],
      ['properties (MRO)', ''],
    ]) },
    { cmd: 'bond-set-mode uuid={bond} mode=roundrobin', stderr: "Error: Expected one of 'balance-slb', 'active-backup', 'lacp', got roundrobin\n" },
    { cmd: 'network-create name-label=bond1', stdout: '{?bnet2}\n' },
    { cmd: 'bond-create network-uuid={bnet2} pif-uuids={eth2}', stderr: lines(doc('PIF_ALREADY_BONDED'), 'PIF: {eth2}') },
    { cmd: 'bond-create network-uuid={bnet2} pif-uuids=', stderr: lines(doc('PIF_BOND_NEEDS_MORE_MEMBERS')) },
    { cmd: 'bond-destroy uuid={bond}' },
    { cmd: 'bond-list --minimal', stdout: '\n' },
    { cmd: 'pif-param-get uuid={eth2} param-name=bond-slave-of', stdout: '<not in database>\n' },
  ], vars);
});

test('tunnel-create, tunnel-list, tunnel-param-*, tunnel-destroy', async () => {
  await runTranscript(server, [
    { cmd: 'pif-reconfigure-ip uuid={eth3} mode=static IP=10.3.0.2 netmask=255.255.255.0' },
    { cmd: 'network-create name-label=overlay', stdout: '{?tnet}\n' },
    { cmd: 'tunnel-create pif-uuid={eth3} network-uuid={tnet} protocol=vxlan', stdout: '{?apif}\n' },
    { cmd: 'tunnel-list access-PIF={apif}', stdout: record([
      ['uuid ( RO)', '{?tunnel}'],
      ['access-PIF ( RO)', '{apif}'],
      ['transport-PIF ( RO)', '{eth3}'],
      ['status ( RO)', 'active: {*}'],
    ]) },
    { cmd: 'tunnel-param-get uuid={tunnel} param-name=protocol', stdout: 'vxlan\n' },
    { cmd: 'pif-param-get uuid={apif} param-name=device', stdout: 'tunnel0\n' },
    { cmd: 'pif-param-get uuid={eth3} param-name=tunnel-transport-PIF-of', stdout: '{tunnel}\n' },
    { cmd: 'tunnel-param-set uuid={tunnel} other-config:k=v' },
    { cmd: 'tunnel-param-add uuid={tunnel} param-name=other-config a=b' },
    { cmd: 'tunnel-param-list uuid={tunnel}', stdout: record([
      ['uuid ( RO)', '{tunnel}'],
      ['access-PIF ( RO)', '{apif}'],
      ['transport-PIF ( RO)', '{eth3}'],
      ['status ( RO)', 'active: {*}'],
      ['other-config (MRW)', 'k: v; a: b'],
      ['protocol ( RO)', 'vxlan'],
    ]) },
    { cmd: 'tunnel-param-remove uuid={tunnel} param-name=other-config param-key=k' },
    { cmd: 'tunnel-param-clear uuid={tunnel} param-name=other-config' },
    { cmd: 'tunnel-param-get uuid={tunnel} param-name=other-config', stdout: '\n' },
    { cmd: 'tunnel-param-set uuid={tunnel} protocol=gre', stderr: internal("Field 'protocol' is read-only.") },
    { cmd: 'tunnel-create pif-uuid={eth3} network-uuid={tnet} protocol=ipip', stderr: "Error: Expected one of 'gre', 'vxlan', got ipip\n" },
    { cmd: 'pif-forget uuid={eth3}', stderr: lines(doc('PIF_TUNNEL_STILL_EXISTS'), 'PIF: {eth3}') },
    { cmd: 'tunnel-destroy uuid={tunnel}' },
    { cmd: 'tunnel-list --minimal', stdout: '\n' },
  ], vars);
});
