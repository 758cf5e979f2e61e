// pif-*: scan, introduce, forget, db-forget, plug/unplug, IP configuration, primary address
// type, the generated commands, and the management commands.
import { after, before, test } from 'node:test';
import { scanSteps, internal, doc, lines, missingParam, record, runTranscript, startServer, type Server, type Vars } from './harness.js';


let server: Server;
const vars: Vars = {};
before(async () => {
  server = await startServer();
  await runTranscript(server, [
    ...scanSteps(['eth0', 'eth1', 'eth2', 'eth3']),
  ], vars);
});
after(async () => { await server?.stop(); });

test('pif-list default columns, filters, and the full record', async () => {
  await runTranscript(server, [
    { cmd: 'pif-list uuid={eth0}', stdout: record([
      ['uuid ( RO)', '{eth0}'],
      ['device ( RO)', 'eth0'],
      ['MAC ( RO)', '{?mac0:any}'],
      ['currently-attached ( RO)', 'true'],
      ['VLAN ( RO)', '-1'],
      ['network-uuid ( RO)', '{?net0}'],
      ['host-uuid ( RO)', '{host}'],
    ]) },
    { cmd: 'pif-list MAC={mac0} --minimal', stdout: '{eth0}\n' },
    { cmd: 'pif-list management=true --minimal', stdout: '{eth0}\n' },
    { cmd: 'pif-list device=eth0 params=network-uuid --minimal', stdout: '{net0}\n' },
    { cmd: 'network-param-get uuid={net0} param-name=bridge', stdout: 'xenbr0\n' },
    { cmd: 'pif-list host-uuid={host} VLAN=-1 physical=true params=device', stdout: '{*}\n\n\n{*}\n\n\n{*}\n\n\n{*}\n\n\n' },
    { cmd: 'pif-list io_read_kbs=1 params=io_read_kbs', stdout: '' },
    { cmd: 'pif-list uuid={eth1} params=device,io_read_kbs', stdout: record([
      ['device ( RO)', 'eth1'],
      ['io_read_kbs ( RO)', '<expensive field>'],
    ]) },
    { cmd: 'pif-param-list uuid={eth1}', stdout: record([
      ['uuid ( RO)', '{eth1}'],
      ['device ( RO)', 'eth1'],
      ['MAC ( RO)', '{*}'],
      ['physical ( RO)', 'true'],
      ['managed ( RO)', 'true'],
      ['currently-attached ( RO)', 'true'],
      ['MTU ( RO)', '1500'],
      ['VLAN ( RO)', '-1'],
      ['vlan-master-of ( RO)', '<not in database>'],
      ['vlan-slave-of ( RO)', ''],
      ['bond-master-of ( RO)', ''],
      ['bond-slave-of ( RO)', '<not in database>'],
      ['sriov-physical-PIF-of ( RO)', ''],
      ['sriov-logical-PIF-of ( RO)', ''],
      ['tunnel-access-PIF-of ( RO)', ''],
      ['tunnel-transport-PIF-of ( RO)', ''],
      ['management ( RO)', 'false'],
      ['network-uuid ( RO)', '{?net1}'],
      ['network-name-label ( RO)', 'Pool-wide network 1'],
      ['host-uuid ( RO)', '{host}'],
      ['host-name-label ( RO)', '{*}'],
      ['IP-configuration-mode ( RO)', 'None'],
      ['IP ( RO)', ''],
      ['netmask ( RO)', ''],
      ['gateway ( RO)', ''],
      ['IPv6-configuration-mode ( RO)', 'None'],
      ['IPv6 ( RO)', ''],
      ['IPv6-gateway ( RO)', ''],
      ['primary-address-type ( RO)', 'IPv4'],
      ['DNS ( RO)', ''],
      ['properties (MRO)', 'gro: on'],
      ['capabilities (SRO)', ''],
      ['io_read_kbs ( RO)', '0.000'],
      ['io_write_kbs ( RO)', '0.000'],
      // the simulated host's NICs report known facts (src/backends/fake/nics.ts)
      ['carrier ( RO)', 'true'],
      ['vendor-id ( RO)', '1af4'],
      ['vendor-name ( RO)', 'xcpnet'],
      ['device-id ( RO)', '0001'],
      ['device-name ( RO)', 'fake NIC'],
      ['speed ( RO)', '10000 Mbit/s'],
      ['duplex ( RO)', 'full'],
      ['disallow-unplug ( RW)', 'false'],
      ['pci-bus-path ( RO)', '0000:00:04.0'],
      ['other-config (MRW)', ''],
      ['igmp-snooping-status ( RO)', '{*}'],
    ]) },
  ], vars);
});

test('pif-param-get/-set/-add/-remove/-clear', async () => {
  await runTranscript(server, [
    { cmd: 'pif-param-get uuid={eth1} param-name=device', stdout: 'eth1\n' },
    { cmd: 'pif-param-set uuid={eth1} other-config:mtu=9000 disallow-unplug=true' },
    { cmd: 'pif-param-get uuid={eth1} param-name=other-config param-key=mtu', stdout: '9000\n' },
    { cmd: 'pif-param-get uuid={eth1} param-name=disallow-unplug', stdout: 'true\n' },
    { cmd: 'pif-unplug uuid={eth1}', stderr: lines(doc('PIF_DOES_NOT_ALLOW_UNPLUG'), 'PIF: {eth1}') },
    { cmd: 'pif-param-set uuid={eth1} disallow-unplug=no' },
    { cmd: 'pif-param-set uuid={eth1} properties:gro=off' },
    { cmd: 'pif-param-get uuid={eth1} param-name=properties param-key=gro', stdout: 'off\n' },
    { cmd: 'pif-param-set uuid={eth1} properties:gso=off', stderr: lines(doc('INVALID_VALUE'), 'field: properties', 'value: gso = off') },
    { cmd: 'pif-param-set uuid={eth1} device=eth9', stderr: internal("Field 'device' is read-only.") },
    { cmd: 'pif-param-add uuid={eth1} param-name=other-config a=1 b=2' },
    { cmd: 'pif-param-get uuid={eth1} param-name=other-config', stdout: 'mtu: 9000; a: 1; b: 2\n' },
    { cmd: 'pif-param-add uuid={eth1} param-name=properties x=y', stderr: internal('Parameter is read-only') },
    { cmd: 'pif-param-remove uuid={eth1} param-name=other-config param-key=a' },
    { cmd: 'pif-param-clear uuid={eth1} param-name=other-config' },
    { cmd: 'pif-param-get uuid={eth1} param-name=other-config', stdout: '\n' },
  ], vars);
});

test('pif-reconfigure-ip/-ipv6, pif-set-primary-address-type, pif-plug/-unplug', async () => {
  await runTranscript(server, [
    { cmd: 'pif-reconfigure-ip uuid={eth1} mode=static IP=10.1.0.2 netmask=255.255.255.0 gateway=10.1.0.1 DNS=10.1.0.1' },
    { cmd: 'pif-list uuid={eth1} params=IP-configuration-mode,IP,netmask,gateway,DNS', stdout: record([
      ['IP-configuration-mode ( RO)', 'Static'],
      ['IP ( RO)', '10.1.0.2'],
      ['netmask ( RO)', '255.255.255.0'],
      ['gateway ( RO)', '10.1.0.1'],
      ['DNS ( RO)', '10.1.0.1'],
    ]) },
    // The keys IP and DNS are caseless.
    { cmd: 'pif-reconfigure-ip uuid={eth1} mode=STATIC ip=10.1.0.3 netmask=255.255.255.0 dns=' },
    { cmd: 'pif-param-get uuid={eth1} param-name=IP', stdout: '10.1.0.3\n' },
    { cmd: 'pif-reconfigure-ip uuid={eth1} mode=auto', stderr: "Error: Expected one of 'None', 'DHCP', 'Static', got auto\n" },
    { cmd: 'pif-reconfigure-ip uuid={eth1} mode=static IP=999.1.1.1 netmask=255.255.255.0',
      stderr: lines(doc('INVALID_IP_ADDRESS_SPECIFIED'), 'parameter: IP') },
    { cmd: 'pif-reconfigure-ip uuid={eth1}', stderr: missingParam('mode') },
    { cmd: 'pif-reconfigure-ipv6 uuid={eth1} mode=static IPv6=fd00::2/64 gateway=fd00::1' },
    { cmd: 'pif-list uuid={eth1} params=IPv6-configuration-mode,IPv6,IPv6-gateway', stdout: record([
      ['IPv6-configuration-mode ( RO)', 'Static'],
      ['IPv6 ( RO)', 'fd00::2/64'],
      ['IPv6-gateway ( RO)', 'fd00::1'],
    ]) },
    { cmd: 'pif-reconfigure-ipv6 uuid={eth1} mode=static IPv6=fd00::2', stderr: lines(doc('INVALID_CIDR_ADDRESS_SPECIFIED'), 'parameter: IPv6') },
    { cmd: 'pif-set-primary-address-type uuid={eth1} primary_address_type=ipv6' },
    { cmd: 'pif-param-get uuid={eth1} param-name=primary-address-type', stdout: 'IPv6\n' },
    { cmd: 'pif-set-primary-address-type uuid={eth1} primary_address_type=IPV4' },
    { cmd: 'pif-set-primary-address-type uuid={eth0} primary_address_type=ipv6', stderr: lines(doc('PIF_IS_MANAGEMENT_INTERFACE'), 'PIF: {eth0}') },
    { cmd: 'pif-plug uuid={eth1}' },
    { cmd: 'pif-param-get uuid={eth1} param-name=currently-attached', stdout: 'true\n' },
    { cmd: 'pif-unplug uuid={eth1}' },
    { cmd: 'pif-param-get uuid={eth1} param-name=currently-attached', stdout: 'false\n' },
    { cmd: 'pif-unplug uuid={eth0}', stderr: lines(doc('PIF_IS_MANAGEMENT_INTERFACE'), 'PIF: {eth0}') },
    { cmd: 'pif-forget uuid={eth0}', stderr: lines(doc('PIF_IS_MANAGEMENT_INTERFACE'), 'PIF: {eth0}') },
  ], vars);
});

test('pif-forget, pif-introduce, pif-db-forget', async () => {
  await runTranscript(server, [
    { cmd: 'pif-param-get uuid={eth3} param-name=MAC', stdout: '{?mac3:any}\n' },
    { cmd: 'pif-forget uuid={eth3}' },
    { cmd: 'pif-list device=eth3 --minimal', stdout: '\n' },
    { cmd: 'pif-introduce host-uuid={host} device=eth3 mac={mac3}', stdout: '{?eth3b}\n' },
    { cmd: 'pif-list device=eth3 params=device,MAC,physical,currently-attached', stdout: record([
      ['device ( RO)', 'eth3'],
      ['MAC ( RO)', '{mac3}'],
      ['physical ( RO)', 'true'],
      ['currently-attached ( RO)', 'false'],
    ]) },
    { cmd: 'pif-introduce host-uuid={host} device=eth3', stderr: lines(doc('DUPLICATE_PIF_DEVICE_NAME'), 'device: eth3') },
    // No MAC and no such device: the device's own MAC is empty, which is no MAC (as xapi).
    { cmd: 'pif-introduce host-uuid={host} device=eth9', stderr: lines(doc('MAC_INVALID'), 'MAC: ') },
    { cmd: 'pif-introduce host-uuid={host} device=eth9 mac=nonsense', stderr: lines(doc('MAC_INVALID'), 'MAC: nonsense') },
    { cmd: 'pif-introduce device=eth3', stderr: missingParam('host-uuid') },
    { cmd: 'pif-db-forget uuid={eth3b}' },
    { cmd: 'pif-list device=eth3 --minimal', stdout: '\n' },
    { cmd: 'pif-scan host-uuid={host}' },
    { cmd: 'pif-list device=eth3 --minimal', stdout: '{?eth3c}\n' },
  ], vars);
});

test('management: host-management-reconfigure, pool-management-reconfigure, host-management-disable', async () => {
  await runTranscript(server, [
    { cmd: 'pif-list device=eth0 params=network-uuid --minimal', stdout: '{?net0}\n' },
    // Independent of the previous test: make sure eth3 has a PIF again.
    { cmd: 'pif-scan host-uuid={host}' },
    { cmd: 'pif-list device=eth3 --minimal', stdout: '{?eth3c}\n' },
    { cmd: 'pif-reconfigure-ip uuid={eth2} mode=static IP=10.2.0.2 netmask=255.255.255.0' },
    { cmd: 'host-management-reconfigure pif-uuid={eth2}' },
    { cmd: 'pif-list management=true --minimal', stdout: '{eth2}\n' },
    { cmd: 'host-param-get uuid={host} param-name=address', stdout: '10.2.0.2\n' },
    { cmd: 'pif-reconfigure-ip uuid={eth3c} mode=none' },
    { cmd: 'host-management-reconfigure pif-uuid={eth3c}', stderr: lines(doc('PIF_HAS_NO_NETWORK_CONFIGURATION'), 'PIF: {eth3c}') },
    { cmd: 'pool-management-reconfigure network-uuid={net0}' },
    { cmd: 'pif-list management=true --minimal', stdout: '{eth0}\n' },
    { cmd: 'host-management-disable' },
    { cmd: 'pif-list management=true --minimal', stdout: '\n' },
    { cmd: 'host-management-reconfigure pif-uuid={eth0}' },
    { cmd: 'pif-list management=true --minimal', stdout: '{eth0}\n' },
  ], vars);
});
