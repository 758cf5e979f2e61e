// Ansible's xenserver_facts (community.general, from Debian's `ansible` package), unchanged, run by
// the `ansible` command against a real xcpnet master. The module talks only to the local socket:
// XenAPI.xapi_local() connects to /var/xapi/xapi and logs in with empty credentials, which xapi
// trusts on its own socket. The master's socket is bind-mounted there inside a private mount
// namespace (`unshare --mount`, /var overlaid by a directory of the test's own), so nothing on the
// machine's filesystem changes: this needs root, hence the system tier.
//
// The module imports XenAPI: Debian's XenAPI.py (python3-os-xenapi 0.3.4), executed unchanged from
// its file by test/support/xenapi-py3/XenAPI.py less one method, UDSTransport.send_request, whose
// Python 2 signature makes every call over the unix socket fail on Python 3 before anything is sent
// (the first test shows that failure with Debian's module alone).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestPool, type TestPool } from '../support/master.js';

const MODULE = '/usr/lib/python3/dist-packages/ansible_collections/community/general/plugins/modules/xenserver_facts.py';
const DEBIAN_XENAPI_DIR = '/usr/lib/python3/dist-packages/os_xenapi/client';
/** The directory of the XenAPI module with Debian's send_request taken away. */
const FIXED_XENAPI_DIR = fileURLToPath(new URL('../../../test/support/xenapi-py3', import.meta.url));
/** Where Debian's XenAPI.xapi_local() connects ("http://_var_xapi_xapi/", "_" read as "/"). */
const XAPI_LOCAL_SOCKET = '/var/xapi/xapi';

/**
 * Run as `sh -c` with argv: the master's socket, where it must appear (under /var), a work
 * directory, then the command. Inside the new mount namespace /var becomes an overlay whose writes
 * go to the work directory, and the socket is bind-mounted at its place; the namespace and its
 * mounts end with the command.
 */
const IN_NAMESPACE = `set -eu
socket=$1 target=$2 work=$3
shift 3
mkdir "$work/upper" "$work/overlay-work"
mount -t overlay xcpnet-facts -o "lowerdir=/var,upperdir=$work/upper,workdir=$work/overlay-work" /var
mkdir -p "$(dirname "$target")"
: > "$target"
mount --bind "$socket" "$target"
exec "$@"`;

type R = Record<string, any>;
let pool: TestPool;
let dir: string;
let runs = 0;
/** Whether the machine has a /var/xapi of its own (a real XCP host would). */
const hadVarXapi = existsSync('/var/xapi');

before(async () => {
  assert.ok(existsSync(MODULE), 'xenserver_facts is missing: scripts/setup.sh installs Debian\'s ansible');
  assert.ok(existsSync(join(DEBIAN_XENAPI_DIR, 'XenAPI.py')), 'XenAPI.py is missing: scripts/setup.sh installs python3-os-xenapi');
  dir = mkdtempSync(join(tmpdir(), 'xcpnet-facts-'));
  // The work directory goes into an overlay mount option, where ',' and ':' are separators.
  assert.match(dir, /^[\w/.-]+$/, 'a temporary directory usable in a mount option');
  pool = await startTestPool();
});
after(async () => {
  await pool?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs xenserver_facts as an ad-hoc task on localhost, with XenAPI found in `xenapiDir`, in its own
 * mount namespace where the master's socket is at /var/xapi/xapi; returns the task's result as
 * Ansible's json callback reports it.
 */
async function xenserverFacts(xenapiDir: string): Promise<R> {
  const work = join(dir, `run-${++runs}`);
  const home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  const { stdout } = await promisify(execFile)('unshare', [
    '--mount', '--propagation', 'private', '--', 'sh', '-c', IN_NAMESPACE, 'sh', pool.master.socketPath, XAPI_LOCAL_SOCKET, work,
    'ansible', 'localhost', '-c', 'local', '-i', 'localhost,', '-e', 'ansible_python_interpreter=/usr/bin/python3',
    '-m', 'community.general.xenserver_facts',
  ], {
    timeout: 120_000, maxBuffer: 16 * 1024 * 1024,
    env: {
      PATH: process.env.PATH, HOME: home, PYTHONPATH: xenapiDir, ANSIBLE_LOCAL_TEMP: join(home, 'tmp'), ANSIBLE_REMOTE_TMP: join(home, 'remote-tmp'),
      ANSIBLE_LOAD_CALLBACK_PLUGINS: '1', ANSIBLE_STDOUT_CALLBACK: 'json', ANSIBLE_NOCOLOR: '1',
      // No __pycache__ next to test/support/xenapi-py3/XenAPI.py in the checkout.
      PYTHONDONTWRITEBYTECODE: '1',
    },
  }).catch((e: { stdout?: string; stderr?: string }) => {
    if (!e.stdout) throw new Error(`ansible printed nothing: ${e.stderr ?? String(e)}`);
    return { stdout: e.stdout };
  });
  // The namespace's /var took the socket's mount point; the machine's own /var did not.
  assert.ok(existsSync(join(work, 'upper', 'xapi', 'xapi')), 'the mount point was made in the overlay');
  assert.equal(existsSync('/var/xapi'), hadVarXapi, 'the machine\'s /var is as it was');
  return JSON.parse(stdout).plays[0].tasks[0].hosts.localhost as R;
}

test('Debian\'s XenAPI.py alone fails inside the client on Python 3, before it reaches xcpnet', async () => {
  const r = await xenserverFacts(DEBIAN_XENAPI_DIR);
  assert.equal(r.failed, true, 'Debian\'s XenAPI.py works now: test/support/xenapi-py3 is no longer needed');
  // The module does not catch it: Ansible reports the traceback's last line.
  assert.match(`${r.module_stderr ?? ''}${r.msg ?? ''}`, /send_request\(\) takes 4 positional arguments but 5 were given/);
});

test('xenserver_facts reports the host\'s networks, PIFs with their addresses, VLANs, VMs and SRs as the records are', async () => {
  const pifs = await pool.call<Record<string, R>>('PIF.get_all_records');
  const pifOf = (device: string) => Object.entries(pifs).find(([, p]) => p.device === device && p.physical)![0];
  await pool.call('PIF.reconfigure_ip', pifOf('eth1'), 'Static', '192.0.2.10', '255.255.255.0', '192.0.2.1', '192.0.2.53');
  const vlanNet = await pool.call<string>('network.create', { name_label: 'facts vlan 10', name_description: '', MTU: 1500, other_config: {} });
  const vlan = await pool.call<string>('VLAN.create', pifOf('eth3'), 10, vlanNet);
  const nets = await pool.call<Record<string, R>>('network.get_all_records');
  const net0 = Object.entries(nets).find(([, n]) => n.bridge === 'xenbr0')![0];
  const vm = await pool.call<string>('VM.create', { name_label: 'facts-vm', name_description: 'seen by xenserver_facts' });
  const vif = await pool.call<string>('VIF.create', {
    device: '0', network: net0, VM: vm, MAC: '02:fa:c7:00:00:01', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
  });
  // SR is a data-only class in xcpnet, with no message that makes one (SR.introduce answers
  // NOT_IMPLEMENTED): the host's local storage goes straight into the database, as a real host has it.
  const sr = pool.master.server.store.transact((tx) => tx.create('SR', {
    uuid: '6b3d5c0e-8f2a-4c1d-9e7b-3a5f0c2d1e4b', name_label: 'Local storage', name_description: '', type: 'ext', content_type: 'user', shared: false,
  }));

  const r = await xenserverFacts(FIXED_XENAPI_DIR);
  assert.equal(r.failed, undefined, `${r.msg}: ${r.module_stderr}`);
  assert.equal(r.changed, false);
  const facts = r.ansible_facts as R;
  // The version and codename are the machine's that runs the module (read by distro), not xcpnet's.
  const versionId = /^VERSION_ID="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
  assert.equal(facts.xenserver_version, versionId ?? '');

  // Networks by name, each the record with its ref; integers travel as strings over XML-RPC.
  const allNets = await pool.call<Record<string, R>>('network.get_all_records');
  assert.deepEqual(Object.keys(facts.xs_networks).sort(), Object.values(allNets).map((n) => n.name_label).sort());
  for (const [ref, n] of Object.entries(allNets)) {
    const fact = facts.xs_networks[n.name_label];
    assert.deepEqual([fact.ref, fact.uuid, fact.bridge, fact.MTU, [...fact.PIFs].sort(), fact.VIFs],
      [ref, n.uuid, n.bridge, String(n.MTU), [...n.PIFs].sort(), n.VIFs], n.name_label);
  }
  assert.deepEqual(facts.xs_networks['Pool-wide network 0'].VIFs, [vif]);

  // PIFs by device eth0..eth6. The module keys a VLAN PIF by its device too (eth3, as its tagged
  // PIF), so eth3 is whichever of the two it met last; the others are the physical NICs.
  const now = await pool.call<Record<string, R>>('PIF.get_all_records');
  assert.deepEqual(Object.keys(facts.xs_pifs).sort(), ['eth0', 'eth1', 'eth2', 'eth3']);
  for (const device of ['eth0', 'eth1', 'eth2']) {
    const ref = pifOf(device);
    const p = now[ref]!;
    const fact = facts.xs_pifs[device];
    assert.deepEqual(
      [fact.ref, fact.uuid, fact.MAC, fact.network, fact.management, fact.ip_configuration_mode, fact.IP, fact.netmask, fact.gateway, fact.DNS, fact.VLAN],
      [ref, p.uuid, p.MAC, p.network, p.management, p.ip_configuration_mode, p.IP, p.netmask, p.gateway, p.DNS, String(p.VLAN)], device);
  }
  assert.deepEqual([facts.xs_pifs.eth0.management, facts.xs_pifs.eth0.ip_configuration_mode], [true, 'DHCP']);
  assert.deepEqual([facts.xs_pifs.eth1.ip_configuration_mode, facts.xs_pifs.eth1.IP, facts.xs_pifs.eth1.netmask, facts.xs_pifs.eth1.gateway],
    ['Static', '192.0.2.10', '255.255.255.0', '192.0.2.1']);
  const vlanPif = await pool.call<string>('VLAN.get_untagged_PIF', vlan);
  assert.ok([pifOf('eth3'), vlanPif].includes(facts.xs_pifs.eth3.ref), facts.xs_pifs.eth3.ref);

  // VLANs by tag.
  assert.deepEqual(Object.keys(facts.xs_vlans), ['10']);
  const v = facts.xs_vlans['10'];
  assert.deepEqual([v.ref, v.uuid, v.tag, v.tagged_PIF, v.untagged_PIF],
    [vlan, await pool.call('VLAN.get_uuid', vlan), '10', pifOf('eth3'), vlanPif]);

  // VMs by name: the control domain and ours; a DateTime field comes as its text.
  const vms = await pool.call<Record<string, R>>('VM.get_all_records');
  assert.deepEqual(Object.keys(facts.xs_vms).sort(), Object.values(vms).map((x) => x.name_label).sort());
  const mine = facts.xs_vms['facts-vm'];
  assert.deepEqual([mine.ref, mine.uuid, mine.power_state, mine.is_control_domain, mine.VIFs, mine.name_description],
    [vm, vms[vm]!.uuid, 'Halted', false, [vif], 'seen by xenserver_facts']);
  assert.equal(mine.snapshot_time, '19700101T00:00:00Z');
  const dom0 = Object.entries(vms).find(([, x]) => x.is_control_domain)!;
  assert.deepEqual([facts.xs_vms[dom0[1].name_label].ref, facts.xs_vms[dom0[1].name_label].power_state], [dom0[0], 'Running']);

  // SRs by name.
  assert.deepEqual(Object.keys(facts.xs_srs), ['Local storage']);
  assert.deepEqual([facts.xs_srs['Local storage'].ref, facts.xs_srs['Local storage'].uuid, facts.xs_srs['Local storage'].type],
    [sr, '6b3d5c0e-8f2a-4c1d-9e7b-3a5f0c2d1e4b', 'ext']);
});
