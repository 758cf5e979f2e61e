// Guests of a real hypervisor (docs/guests.md), in the lab: a tiny QEMU guest (TCG) on host1
// whose tap is attached through QEMU's script= = `xcpnet vif-hotplug qemu-ifup`, reaching a netns
// guest on host2 with counted pings both ways; QEMU's exit (downscript) detaches it; a device for
// no VIF is reported and not bridged; a port a raw ovs-vsctl made with external_ids:iface-id is
// adopted. Every ping is counted and bounded, the guest's life too.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { canRunLab, labsOfThisFile, makeVm, nextCfg, ovsRows, pifNetwork, pifUuid, startVm, type TestLab } from '../../src/lab/testkit.js';
import { labRestartAgent } from '../../src/lab/index.js';
import { startTinyGuest, type TinyGuest } from '../../src/lab/vm/tiny-guest.js';
import { shq } from '../../src/lab/vm/initramfs.js';

const skip = canRunLab();
const lab = labsOfThisFile();
const XCPNET_JS = fileURLToPath(new URL('../../src/bin/xcpnet.js', import.meta.url));

/** Polls `probe` every 200 ms until it holds; fails after `ms`. */
async function until(what: string, probe: () => Promise<boolean>, ms = 30_000, detail: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await probe()) return; await sleep(200); }
  assert.fail(`timed out: ${what}\n${detail()}`);
}

/** `xcpnet vif-hotplug ARGS` run in a host's namespace, as a hypervisor would. */
function hotplug(l: TestLab, host: string, args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const ns = l.state.hosts.find((h) => h.name === host)!.ns;
  return new Promise((resolve) => {
    const child = execFile('ip', ['netns', 'exec', ns, process.execPath, XCPNET_JS, 'vif-hotplug', '--socket', socketOf(l, host), ...args],
      { timeout: 120_000, env: { PATH: process.env.PATH } }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    child.stdin?.end(input);
  });
}

const socketOf = (l: TestLab, host: string) => join(l.state.dir, 'agents', host, 'agent', 'vif-hotplug.sock');

async function param(l: TestLab, cls: string, uuid: string, name: string): Promise<string> {
  return l.xe(`${cls}-param-get`, `uuid=${uuid}`, `param-name=${name}`);
}

describe('guests of a real hypervisor', { skip, concurrency: false }, () => {
  test('a QEMU guest attached by script= reaches a netns guest; its exit detaches it; unknown and adopted devices', async () => {
    const l = await lab('hv', { hosts: 2, nics: 2 });
    const net = await pifNetwork(l, 'host1', 'eth1');
    for (const h of ['host1', 'host2']) await l.xe('pif-plug', `uuid=${await pifUuid(l, h, 'eth1')}`);
    const bridge = await l.xe('network-param-get', `uuid=${net}`, 'param-name=bridge');

    // The netns guest on host2.
    const peer = await makeVm(l, 'peer', net);
    await startVm(l, peer, 'host2', '203.0.113.2/24');

    // The QEMU guest's VM and VIF, halted: the hypervisor starts it, not xcpnet.
    const mac = '52:54:00:5e:00:01';
    const qvm = await l.xe('vm-create', 'name-label=qemu-guest');
    const qvif = await l.xe('vif-create', `vm-uuid=${qvm}`, `network-uuid=${net}`, 'device=0', `mac=${mac}`);
    const tap = `${l.state.prefix}qg0`;
    const dir = join(l.state.dir, 'guests');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const script = (mode: string) => {
      const path = join(dir, mode);
      writeFileSync(path, `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(XCPNET_JS)} vif-hotplug --socket ${shq(socketOf(l, 'host1'))} ${mode} "$1"\n`, { mode: 0o700 });
      return path;
    };
    const host1 = l.state.hosts.find((h) => h.name === 'host1')!;
    let guest: TinyGuest | undefined;
    try {
      guest = await startTinyGuest({
        labDir: l.state.dir, netns: host1.ns, dir: join(dir, 'qemu-guest'),
        plan: { name: 'qemu-guest', prefix: l.state.prefix, tap, mac, upScript: script('qemu-ifup'), downScript: script('qemu-ifdown') },
        init: { address: '203.0.113.1/24', ping: { target: '203.0.113.2', count: 5 }, lifetimeS: 240 },
      });
      const g = guest;
      await until('the QEMU guest pinged the netns guest', async () => /xcpnet-tiny: ready/.test(g.console()) || !g.alive, 240_000, () => g.console());
      assert.ok(g.alive, `QEMU is running:\n${g.console()}`);
      assert.match(g.console(), /xcpnet-tiny: ping 5 packets transmitted, 5 packets received/, g.console());

      // The records follow the hypervisor: attached, the VM running on host1 with a domid.
      assert.equal(await param(l, 'vif', qvif, 'currently-attached'), 'true');
      assert.equal(await param(l, 'vm', qvm, 'power-state'), 'running');
      assert.equal(await param(l, 'vm', qvm, 'resident-on'), host1.uuid);
      assert.ok(Number(await param(l, 'vm', qvm, 'dom-id')) >= 1, 'a domid was given');
      const ids = await l.exec('host1', 'ovs-vsctl', 'get', 'Interface', tap, 'external_ids:xs-vif-uuid');
      assert.equal(ids.stdout.trim(), `"${qvif}"`, `the tap is the VIF's port: ${ids.stderr}`);
      assert.equal((await l.exec('host1', 'ovs-vsctl', 'port-to-br', tap)).stdout.trim(), bridge);

      // And the other way, counted, across a crash of host1's agent: the binding is kept on disk,
      // so the restarted agent keeps the tap's port as it is (no row rewritten, no ping lost).
      const rows = await ovsRows(l, 'host1');
      const cfg = await nextCfg(l, 'host1');
      const back = l.exec(peer, 'ping', '-c', '40', '-i', '0.2', '-W', '1', '-w', '30', '203.0.113.1');
      await sleep(1000);
      await labRestartAgent({ name: l.name, stateDir: l.stateDir, host: 'host1', progress: () => undefined });
      await l.xe('pif-scan', `host-uuid=${host1.uuid}`); // answered once the new agent has reported
      assert.match((await back).stdout, /40 packets transmitted, 40 received/, (await back).stdout);
      assert.deepEqual(await ovsRows(l, 'host1'), rows, 'no OVSDB row removed or re-added by the restart');
      assert.equal(await nextCfg(l, 'host1'), cfg, 'nothing written to OVSDB by the restart');
      assert.equal(await param(l, 'vif', qvif, 'currently-attached'), 'true');

      // A port made by a raw ovs-vsctl with external_ids:iface-id (as libvirt's openvswitch
      // virtualport does) is adopted: bound to its VIF, the VM running on host1.
      const avm = await l.xe('vm-create', 'name-label=adopted');
      const avif = await l.xe('vif-create', `vm-uuid=${avm}`, `network-uuid=${net}`, 'device=0', 'mac=52:54:00:5e:00:02');
      const adev = `${l.state.prefix}ad0`;
      assert.equal((await l.exec('host1', 'ip', 'tuntap', 'add', 'dev', adev, 'mode', 'tap')).code, 0);
      const add = await l.exec('host1', 'ovs-vsctl', 'add-port', bridge, adev, '--', 'set', 'Interface', adev, `external_ids:iface-id=${avif}`);
      assert.equal(add.code, 0, add.stderr);
      await until('the adopted VIF is attached', async () => (await param(l, 'vif', avif, 'currently-attached')) === 'true');
      assert.equal(await param(l, 'vm', avm, 'resident-on'), host1.uuid);
      await until('the port carries xcpnet\'s marks', async () =>
        (await l.exec('host1', 'ovs-vsctl', 'get', 'Interface', adev, 'external_ids:xs-vif-uuid')).stdout.trim() === `"${avif}"`);

      // libvirt's qemu hook: `started` with the domain XML attaches its interfaces (domid = the
      // domain's id), `stopped` halts the VM.
      const lvm = await l.xe('vm-create', 'name-label=libvirt-guest');
      const lvif = await l.xe('vif-create', `vm-uuid=${lvm}`, `network-uuid=${net}`, 'device=0', 'mac=52:54:00:5e:00:03');
      const ldev = `${l.state.prefix}lv0`;
      assert.equal((await l.exec('host1', 'ip', 'tuntap', 'add', 'dev', ldev, 'mode', 'tap')).code, 0);
      const xml = `<domain type='kvm' id='42'><name>libvirt-guest</name><uuid>${lvm}</uuid><devices>
        <interface type='ethernet'><mac address='52:54:00:5e:00:03'/><target dev='${ldev}'/><model type='virtio'/></interface>
        </devices></domain>`;
      const started = await hotplug(l, 'host1', ['libvirt', 'libvirt-guest', 'started', 'begin', '-'], xml);
      assert.equal(started.code, 0, started.stderr);
      assert.equal(await param(l, 'vif', lvif, 'currently-attached'), 'true');
      assert.equal(await param(l, 'vm', lvm, 'dom-id'), '42');
      assert.equal((await l.exec('host1', 'ovs-vsctl', 'port-to-br', ldev)).stdout.trim(), bridge);
      const stopped = await hotplug(l, 'host1', ['libvirt', 'libvirt-guest', 'stopped', 'end', '-'], xml);
      assert.equal(stopped.code, 0, stopped.stderr);
      await until('the libvirt guest is halted', async () => (await param(l, 'vm', lvm, 'power-state')) === 'halted');
      assert.equal(await param(l, 'vif', lvif, 'currently-attached'), 'false');
      await until('its port is gone', async () => (await l.exec('host1', 'ovs-vsctl', 'port-to-br', ldev)).code !== 0);

      // A device for no VIF: refused, reported on the host, never bridged.
      const udev = `${l.state.prefix}un0`;
      assert.equal((await l.exec('host1', 'ip', 'tuntap', 'add', 'dev', udev, 'mode', 'tap')).code, 0);
      const unknown = await hotplug(l, 'host1', ['add', udev, 'mac=52:54:00:5e:00:99']);
      assert.equal(unknown.code, 1, unknown.stdout + unknown.stderr);
      assert.match(unknown.stderr, /no VIF with MAC 52:54:00:5e:00:99: .* is not bridged/);
      await until('the host shows the unknown device', async () =>
        (await l.xe('host-param-get', `uuid=${host1.uuid}`, 'param-name=other-config', 'param-key=xcpnet-unknown-guest-devices').catch(() => '')) === udev);
      assert.notEqual((await l.exec('host1', 'ovs-vsctl', 'port-to-br', udev)).code, 0, 'the unknown device is on no bridge');

      // QEMU exits: its downscript detaches the tap; the VM is halted with its last device.
      await g.stop();
      await until('the VIF is detached', async () => (await param(l, 'vif', qvif, 'currently-attached')) === 'false');
      assert.equal(await param(l, 'vm', qvm, 'power-state'), 'halted');
      await until('the tap\'s port is gone', async () => !(await l.exec('host1', 'ovs-vsctl', 'list-ports', bridge)).stdout.split('\n').includes(tap));
      assert.match(g.console(), new RegExp(`vif-hotplug: ${tap} attached to VIF ${qvif} on ${bridge}`), 'script= ran through xcpnet');
      assert.match(g.console(), new RegExp(`vif-hotplug: ${tap} detached`), 'downscript= ran through xcpnet and detached the tap');
    } finally {
      await guest?.stop();
    }
    await l.down();
  });
});
