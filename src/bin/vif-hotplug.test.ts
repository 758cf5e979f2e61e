// What the hotplug command makes of what a hypervisor gives it: Xen's action and environment,
// xenstore, QEMU's command line, libvirt's domain XML, an operator's arguments. All of it is
// hostile input: anything that is not a plain value is refused before any use.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { macFromQemuArgv, parseDomainXml, parseManual, parseXen, UsageError, xenSelector } from './vif-hotplug.js';
import { HotplugRequestError, parseHotplugRequest } from '../protocol/hotplug.js';

const VM = '6a0b2a5c-1b43-4c43-9b8e-0d2d2f1e8a11';

test('Xen: online/add and offline/remove with vif= and XENBUS_PATH=; the device must be the path\'s', () => {
  assert.deepEqual(parseXen(['online'], { vif: 'vif5.1', XENBUS_PATH: 'backend/vif/5/1' }),
    { action: 'add', device: 'vif5.1', domid: 5, devid: 1, xenbusPath: 'backend/vif/5/1', emulated: false });
  assert.equal(parseXen(['remove'], { vif: 'vif5.1', XENBUS_PATH: 'backend/vif/5/1' }).action, 'remove');
  assert.equal(parseXen(['add'], { vif: 'vif5.1-emu', XENBUS_PATH: 'backend/vif/5/1' }).emulated, true);
  for (const env of [
    { vif: 'vif5.2', XENBUS_PATH: 'backend/vif/5/1' }, { vif: 'eth0', XENBUS_PATH: 'backend/vif/5/1' },
    { vif: 'vif5.1', XENBUS_PATH: 'backend/vif/5/1/../../x' }, { vif: 'vif5.1', XENBUS_PATH: '/local/domain/0/backend/vif/5/1' }, { vif: 'vif5.1' },
  ]) assert.throws(() => parseXen(['online'], env), UsageError, JSON.stringify(env));
  assert.throws(() => parseXen(['destroy'], { vif: 'vif5.1', XENBUS_PATH: 'backend/vif/5/1' }), UsageError);
});

test('Xen: the VIF is the domain\'s uuid and devid from xenstore, checked against the frontend MAC', async () => {
  const x = parseXen(['online'], { vif: 'vif5.1', XENBUS_PATH: 'backend/vif/5/1' });
  const store: Record<string, string> = { '/local/domain/5/vm': `/vm/${VM}`, 'backend/vif/5/1/mac': '00:16:3E:01:02:03' };
  assert.deepEqual(await xenSelector(x, async (k) => store[k]), { vm: VM, vmDevice: 1, mac: '00:16:3e:01:02:03' });
  store['backend/vif/5/1/mac'] = '00:16:3e:01:02:03,evil';
  await assert.rejects(xenSelector(x, async (k) => store[k]), HotplugRequestError);
  await assert.rejects(xenSelector(x, async () => undefined), UsageError);
});

test('QEMU: the guest MAC of the tap from -netdev/-device or -nic', () => {
  const argv = ['qemu-system-x86_64', '-netdev', 'tap,id=n0,ifname=tap0,script=/x', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01',
    '-nic', 'tap,ifname=tap1,mac=52:54:00:00:00:02'];
  assert.equal(macFromQemuArgv(argv, 'tap0'), '52:54:00:00:00:01');
  assert.equal(macFromQemuArgv(argv, 'tap1'), '52:54:00:00:00:02');
  assert.equal(macFromQemuArgv(argv, 'tap2'), undefined);
});

test('libvirt: uuid, domain id, each interface\'s tap, MAC and interfaceid from the domain XML', () => {
  const xml = `<domain type='kvm' id='12'>
  <name>web</name><uuid>${VM}</uuid>
  <devices>
    <interface type='ethernet'><mac address='52:54:00:aa:bb:01'/><target dev='vnet4'/><model type='virtio'/></interface>
    <interface type="bridge"><mac address="52:54:00:aa:bb:02"/><source bridge="xenbr0"/>
      <virtualport type="openvswitch"><parameters interfaceid="0f0e0d0c-0b0a-4900-8000-000000000001"/></virtualport><target dev="vnet5"/></interface>
    <interface type='network'><mac address='52:54:00:aa:bb:03'/></interface>
  </devices></domain>`;
  assert.deepEqual(parseDomainXml(xml), { uuid: VM, name: 'web', id: 12, nics: [
    { dev: 'vnet4', mac: '52:54:00:aa:bb:01' },
    { dev: 'vnet5', mac: '52:54:00:aa:bb:02', interfaceid: '0f0e0d0c-0b0a-4900-8000-000000000001' },
  ] });
});

test('by hand: add DEV with a selector, remove DEV, stopped VM; hostile names and values are refused', () => {
  assert.deepEqual(parseManual(['add', 'tap0', 'mac=52:54:00:00:00:01', 'domid=4']),
    { op: 'add', device: 'tap0', domid: 4, find: { mac: '52:54:00:00:00:01' } });
  assert.deepEqual(parseManual(['add', 'vif3.0', 'vm=web', 'device=0']), { op: 'add', device: 'vif3.0', domid: -1, find: { vm: 'web', vmDevice: 0 } });
  assert.deepEqual(parseManual(['remove', 'tap0']), { op: 'remove', device: 'tap0' });
  for (const dev of ['-rf', 'a/b', '../../etc', 'tap0;reboot', '$(reboot)', 'x'.repeat(16), 'tap 0', '']) {
    assert.throws(() => parseManual(['add', dev, 'mac=52:54:00:00:00:01']), UsageError, dev);
  }
  assert.throws(() => parseManual(['add', 'tap0']), HotplugRequestError, 'no selector');
  assert.throws(() => parseManual(['add', 'tap0', 'vm=web']), HotplugRequestError, 'a VM without a device');
  assert.throws(() => parseManual(['add', 'tap0', 'mac=zz']), HotplugRequestError);
  assert.throws(() => parseManual(['add', 'tap0', 'bridge=xenbr0']), UsageError);
  assert.throws(() => parseManual(['add', 'tap0', 'domid=-3', 'mac=52:54:00:00:00:01']), UsageError);
});

test('the agent takes only whole, well-typed requests', () => {
  for (const bad of [null, [], { op: 'add' }, { op: 'add', device: 'tap0', domid: 1, find: { mac: '52:54:00:00:00:01' }, extra: 1 },
    { op: 'add', device: 'tap0', domid: 1.5, find: { mac: '52:54:00:00:00:01' } }, { op: 'remove', device: 'a\nb' },
    { op: 'stopped', vm: 'x\u0000' }, { op: 'reboot' }, { op: 'add', device: 'tap0', domid: 1, find: { vif: 'not-a-uuid' } }]) {
    assert.throws(() => parseHotplugRequest(bad), HotplugRequestError, JSON.stringify(bad));
  }
});
