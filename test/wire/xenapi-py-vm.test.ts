// Debian's XenAPI.py, unchanged, driving the VM lifecycle as scripts written for XCP do: wait for
// the guest's IP in VM_guest_metrics.networks (what Ansible's wait_for_ip_address polls), Async
// calls followed through their tasks, suspend/resume, snapshot and clone, and xapi's Failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT_PASSWORD, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent, net, vif } from '../support/rule-kit.js';
import { report } from '../support/report.js';

const XENAPI_PY = '/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py';

const SCRIPT = `
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("XenAPI", sys.argv[1])
XenAPI = importlib.util.module_from_spec(spec); spec.loader.exec_module(XenAPI)
s = XenAPI.Session(sys.argv[2])
s.xenapi.login_with_password("root", sys.argv[3], "1.0", "xenapi-py-vm-test")
vm = sys.argv[4]
out = {}
def wait_task(task):
    for _ in range(300):
        status = s.xenapi.task.get_status(task)
        if status != "pending":
            return status, s.xenapi.task.get_result(task), s.xenapi.task.get_error_info(task)
        time.sleep(0.1)
    raise Exception("task still pending")
# Wait for the guest's IP as a deployment script does (bounded).
ip = ""
for _ in range(100):
    gm = s.xenapi.VM.get_guest_metrics(vm)
    if gm != "OpaqueRef:NULL":
        ip = s.xenapi.VM_guest_metrics.get_networks(gm).get("0/ip", "")
        if ip: break
    time.sleep(0.1)
out["ip"] = ip
out["suspend"] = wait_task(s.xenapi.Async.VM.suspend(vm))[0]
out["suspended"] = s.xenapi.VM.get_power_state(vm)
s.xenapi.VM.resume(vm, False, False)
out["resumed"] = s.xenapi.VM.get_power_state(vm)
snap = s.xenapi.VM.snapshot(vm, "py-snap")
out["snap"] = [s.xenapi.VM.get_is_a_snapshot(snap), s.xenapi.VM.get_snapshot_of(snap) == vm]
status, result, _ = wait_task(s.xenapi.Async.VM.clone(snap, "py-clone"))
out["clone_status"] = status
clone = result.replace("<value>", "").replace("</value>", "")
out["clone_power"] = s.xenapi.VM.get_power_state(clone)
out["clone_vifs"] = len(s.xenapi.VM.get_VIFs(clone))
try:
    s.xenapi.VM.pause(clone)
except XenAPI.Failure as f:
    out["failure"] = f.details
out["failure_clone"] = clone
s.xenapi.VM.hard_shutdown(vm)
s.xenapi.session.logout()
print(json.dumps(out))
`;

let pool: TestPool;
before(async () => { pool = await startTestPool(); await ensureAgent(pool); });
after(async () => { await pool.close(); });

test('XenAPI.py waits for the guest IP, suspends and resumes, snapshots and clones through tasks, gets Failure', async () => {
  const vm = await pool.call<string>('VM.create', { name_label: 'py' });
  await vif(pool, vm, await net(pool), '0');
  await pool.call('VM.start', vm, false, false);
  // The host's agent tells what the guest has (in the lab it looks inside the guest).
  const { hub, store } = pool.master.server;
  const host = pool.master.host;
  setTimeout(() => hub.report(host, store.generation, report({ guest_networks: { [vm]: { '0/ip': '203.0.113.7', '0/ipv4/0': '203.0.113.7' } } })), 300);
  const { stdout } = await promisify(execFile)('python3', ['-c', SCRIPT, XENAPI_PY, `${pool.url}/`, ROOT_PASSWORD, vm], { timeout: 60_000 });
  const out = JSON.parse(stdout);
  assert.equal(out.ip, '203.0.113.7');
  assert.equal(out.suspend, 'success');
  assert.equal(out.suspended, 'Suspended');
  assert.equal(out.resumed, 'Running');
  assert.deepEqual(out.snap, [true, true]);
  assert.equal(out.clone_status, 'success');
  assert.equal(out.clone_power, 'Halted');
  assert.equal(out.clone_vifs, 1);
  assert.deepEqual(out.failure, ['VM_BAD_POWER_STATE', out.failure_clone, 'running', 'halted']);
});
