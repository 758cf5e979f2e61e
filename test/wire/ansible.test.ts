// Ansible's xenserver modules (community.general, from Debian's `ansible` package), unchanged, run
// by the `ansible` command against a real xcpnet master over XML-RPC: guest_info, guest_powerstate
// and guest (its networks and MACs). The modules import Python's XenAPI module: Debian's
// XenAPI.py (python3-os-xenapi), found through PYTHONPATH. xenserver_facts talks only to the
// local socket at a fixed path: it runs in the root tier, test/system/ansible-facts.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT_PASSWORD, startTestPool, type TestPool } from '../support/master.js';

const MODULES = '/usr/lib/python3/dist-packages/ansible_collections/community/general/plugins/modules';
const XENAPI_DIR = '/usr/lib/python3/dist-packages/os_xenapi/client';

type R = Record<string, any>;
let pool: TestPool;
let home: string;
let vm: string;
let net0: string;

before(async () => {
  for (const m of ['xenserver_guest_info', 'xenserver_guest_powerstate', 'xenserver_guest']) {
    assert.ok(existsSync(join(MODULES, `${m}.py`)), `${m} is missing: scripts/setup.sh installs Debian's ansible`);
  }
  home = mkdtempSync(join(tmpdir(), 'xcpnet-ansible-'));
  pool = await startTestPool();
  const nets = await pool.call<Record<string, R>>('network.get_all_records');
  net0 = Object.entries(nets).find(([, n]) => n.bridge === 'xenbr0')![0];
  vm = await pool.call<string>('VM.create', { name_label: 'ansible-vm', name_description: 'for Ansible' });
  await pool.call('VIF.create', {
    device: '0', network: net0, VM: vm, MAC: '02:11:22:33:44:55', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
  });
});
after(async () => {
  await pool?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

/**
 * Runs one module as an ad-hoc task on localhost (the module itself is the XenAPI client) and
 * returns its result, as Ansible's json callback reports it.
 */
async function ansible(module: string, args: R): Promise<R> {
  const all = { hostname: pool.url, username: 'root', password: ROOT_PASSWORD, ...args };
  const { stdout } = await promisify(execFile)('ansible', [
    'localhost', '-c', 'local', '-i', 'localhost,', '-e', 'ansible_python_interpreter=/usr/bin/python3',
    '-m', `community.general.${module}`, '-a', JSON.stringify(all),
  ], {
    timeout: 120_000, maxBuffer: 16 * 1024 * 1024,
    env: {
      PATH: process.env.PATH, HOME: home, PYTHONPATH: XENAPI_DIR, ANSIBLE_LOCAL_TEMP: join(home, 'tmp'), ANSIBLE_REMOTE_TMP: join(home, 'remote-tmp'),
      ANSIBLE_LOAD_CALLBACK_PLUGINS: '1', ANSIBLE_STDOUT_CALLBACK: 'json', ANSIBLE_NOCOLOR: '1',
    },
  }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const doc = JSON.parse(stdout);
  return doc.plays[0].tasks[0].hosts.localhost as R;
}

const powerState = () => pool.call<string>('VM.get_power_state', vm);

test('xenserver_guest_info reads the VM: its name, state, networks with their MACs and MTU', async () => {
  const r = await ansible('xenserver_guest_info', { name: 'ansible-vm' });
  assert.equal(r.failed, undefined, r.msg);
  const uuid = await pool.call<string>('VM.get_uuid', vm);
  assert.equal(r.instance.uuid, uuid);
  assert.equal(r.instance.name, 'ansible-vm');
  assert.equal(r.instance.name_desc, 'for Ansible');
  assert.equal(r.instance.state, 'poweredoff');
  assert.deepEqual(r.instance.networks.map((n: R) => [n.vif_device, n.mac, n.name, n.mtu]),
    [['0', '02:11:22:33:44:55', 'Pool-wide network 0', '1500']]);
  // By uuid as well; a name no VM has is the module's own failure.
  assert.equal((await ansible('xenserver_guest_info', { uuid })).instance.name, 'ansible-vm');
  const missing = await ansible('xenserver_guest_info', { name: 'no-such-vm' });
  assert.equal(missing.failed, true);
  assert.match(missing.msg, /not found/i);
});

test('xenserver_guest_powerstate starts and stops the VM (VM.start, hard_shutdown, Async clean_shutdown)', async () => {
  const on = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-on' });
  assert.equal(on.failed, undefined, on.msg);
  assert.equal(on.changed, true);
  assert.equal(on.instance.state, 'poweredon');
  assert.equal(await powerState(), 'Running');
  assert.equal(await pool.call('VIF.get_currently_attached', (await pool.call<string[]>('VM.get_VIFs', vm))[0]), true);
  // Already on: nothing to change.
  const again = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-on' });
  assert.equal(again.changed, false);
  const off = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-off' });
  assert.equal(off.failed, undefined, off.msg);
  assert.equal(off.instance.state, 'poweredoff');
  assert.equal(await powerState(), 'Halted');
  // A guest shutdown with a timeout runs Async.VM.clean_shutdown and follows its task.
  await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-on' });
  const guestOff = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'shutdown-guest', state_change_timeout: 60 });
  assert.equal(guestOff.failed, undefined, guestOff.msg);
  assert.equal(guestOff.changed, true);
  assert.equal(await powerState(), 'Halted');
});

test('xenserver_guest reconfigures the VM\'s networks: a new NIC with its MAC, a changed MAC', async (t) => {
  // The module reads VM.get_allowed_VBD_devices on every reconfiguration.
  const nets = await pool.call<Record<string, R>>('network.get_all_records');
  const net1 = Object.entries(nets).find(([, n]) => n.bridge === 'xenbr1')![0];
  const r = await ansible('xenserver_guest', {
    name: 'ansible-vm', state: 'present',
    networks: [{ name: 'Pool-wide network 0', mac: '02:11:22:33:44:55' }, { name: 'Pool-wide network 1', mac: '02:aa:bb:cc:dd:01' }],
  });
  assert.equal(r.failed, undefined, r.msg);
  assert.equal(r.changed, true);
  const vifs = await Promise.all((await pool.call<string[]>('VM.get_VIFs', vm)).map((v) => pool.call<R>('VIF.get_record', v)));
  assert.deepEqual(vifs.map((v) => [v.device, v.network, v.MAC]).sort(), [['0', net0, '02:11:22:33:44:55'], ['1', net1, '02:aa:bb:cc:dd:01']]);
  assert.deepEqual(r.instance.networks.map((n: R) => [n.vif_device, n.mac]), [['0', '02:11:22:33:44:55'], ['1', '02:aa:bb:cc:dd:01']]);
  // A changed MAC replaces the VIF (the module destroys and re-creates it); a bad MAC is refused by the module.
  const changed = await ansible('xenserver_guest', {
    name: 'ansible-vm', state: 'present',
    networks: [{ name: 'Pool-wide network 0', mac: '02:11:22:33:44:66' }, { name: 'Pool-wide network 1', mac: '02:aa:bb:cc:dd:01' }],
  });
  assert.equal(changed.failed, undefined, changed.msg);
  const macs = await Promise.all((await pool.call<string[]>('VM.get_VIFs', vm)).map((v) => pool.call<string>('VIF.get_MAC', v)));
  assert.deepEqual(macs.sort(), ['02:11:22:33:44:66', '02:aa:bb:cc:dd:01']);
});

test('xenserver_guest_powerstate restarts, reboots and suspends the VM, and resumes it', async (t) => {
  await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-on' });
  const restarted = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'restarted' });
  assert.equal(restarted.failed, undefined, restarted.msg);
  assert.equal(restarted.changed, true);
  assert.equal(await powerState(), 'Running');
  const rebooted = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'reboot-guest', state_change_timeout: 60 });
  assert.equal(rebooted.failed, undefined, rebooted.msg);
  assert.equal(await powerState(), 'Running');
  const suspended = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'suspended' });
  assert.equal(suspended.failed, undefined, suspended.msg);
  assert.equal(suspended.instance.state, 'suspended');
  assert.equal(await powerState(), 'Suspended');
  const resumed = await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-on' });
  assert.equal(resumed.failed, undefined, resumed.msg);
  assert.equal(await powerState(), 'Running');
  await ansible('xenserver_guest_powerstate', { name: 'ansible-vm', state: 'powered-off' });
});
