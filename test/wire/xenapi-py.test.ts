// Debian's XenAPI.py (package python3-os-xenapi), unchanged, loaded straight from its file
// (it needs only Python's standard library), against a real xcpnet master over XML-RPC.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { ROOT_PASSWORD, startTestPool, type TestPool } from '../support/master.js';

const XENAPI_PY = '/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py';

const SCRIPT = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("XenAPI", sys.argv[1])
XenAPI = importlib.util.module_from_spec(spec); spec.loader.exec_module(XenAPI)
s = XenAPI.Session(sys.argv[2])
s.xenapi.login_with_password("root", sys.argv[3], "1.0", "xenapi-py-test")
out = {}
out["pools"] = s.xenapi.pool.get_all()
master = s.xenapi.pool.get_master(out["pools"][0])
out["master_is_host"] = master in s.xenapi.host.get_all()
out["major"] = s.xenapi.host.get_API_version_major(master)
out["minor"] = s.xenapi.host.get_API_version_minor(master)
net = s.xenapi.network.create({"name_label": "from-python", "name_description": "", "MTU": "9000", "other_config": {"k": "v"}})
recs = s.xenapi.network.get_all_records()
out["created"] = recs[net]["name_label"]
out["mtu"] = recs[net]["MTU"]
out["other_config"] = recs[net]["other_config"]
try:
    s.xenapi.network.get_record("OpaqueRef:bogus")
except XenAPI.Failure as f:
    out["failure"] = f.details
# Classes of the whole datamodel, some of which xcpnet lacks: they match nothing, nothing fails.
batch = s.xenapi.event_from(["network", "VM_metrics", "SR", "message"], "", 0.0)
out["event_classes"] = sorted(set(e["class"] for e in batch["events"]))
out["where"] = s.xenapi.network.get_all_records_where('"from-python" = field "name__label" and field "MTU" = "9000"')
s.xenapi.event.register(["SR"])
s.xenapi.event.unregister(["SR"])
s.xenapi.session.logout()
print(json.dumps(out))
`;

let pool: TestPool;
before(async () => { pool = await startTestPool(); });
after(async () => { await pool.close(); });

test('XenAPI.py logs in, reads the pool and versions, creates a network and gets a Failure', async () => {
  assert.ok(existsSync(XENAPI_PY), `${XENAPI_PY} is missing: scripts/setup.sh installs python3-os-xenapi`);
  const { stdout } = await promisify(execFile)('python3', ['-c', SCRIPT, XENAPI_PY, `${pool.url}/`, ROOT_PASSWORD], { timeout: 30_000 });
  const out = JSON.parse(stdout);
  assert.equal(out.pools.length, 1);
  assert.equal(out.master_is_host, true);
  assert.equal(out.major, '2');
  assert.equal(out.minor, '23');
  assert.equal(out.created, 'from-python');
  assert.equal(out.mtu, '9000', 'int64 travels as a string over XML-RPC');
  assert.deepEqual(out.other_config, { k: 'v' });
  assert.deepEqual(out.failure, ['HANDLE_INVALID', 'network', 'OpaqueRef:bogus']);
  // VM_metrics has objects (each VM's, the control domain's too); SR and message have none here.
  assert.deepEqual(out.event_classes, ['network', 'vm_metrics']);
  assert.deepEqual(Object.values(out.where).map((r: any) => r.name_label), ['from-python']);
});
