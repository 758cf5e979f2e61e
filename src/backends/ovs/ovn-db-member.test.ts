// Which running cluster member is adopted as it is and which is started again: one from before
// the databases were behind TLS (a plain ptcp: client port, no PKI options) is started again,
// so its clients, now given ssl: addresses, reach it after an upgrade.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureClusterMember, livePid, memberListenerArgs, memberFiles, sameListeners, stopAndWait } from './ovn-db-member.js';
import { pkiFiles } from '../../common/ovn-pki.js';
import { OvnCa } from '../../sdn/ovn-ca.js';

const dir = '/var/lib/xcpnet/ovn';
const pki = pkiFiles('/var/lib/xcpnet/ovn-pki', 'chassis');
const member = { self: '10.0.0.2', peers: ['10.0.0.1', '10.0.0.3'], creator: false };

test('a member started before TLS (ptcp:, no PKI) is started again; one started as now is adopted', () => {
  const f = memberFiles(dir, 'sb');
  const common = ['ovsdb-server', f.file, `--remote=punix:${f.sock}`];
  const tail = [`--pidfile=${f.pidfile}`, '--detach', '--no-chdir', `--log-file=${f.log}`, `--unixctl=${f.ctl}`, ''];
  const want = memberListenerArgs('sb', member, pki);
  assert.deepEqual(want, ['--remote=pssl:6642:10.0.0.2', `--private-key=${pki.key}`, `--certificate=${pki.cert}`, `--ca-cert=${pki.ca}`]);
  assert.equal(sameListeners([...common, ...want, ...tail], want), true);
  assert.equal(sameListeners([...common, '--remote=ptcp:6642:10.0.0.2', ...tail], want), false, 'the previous version\'s member');
  assert.equal(sameListeners([...common, '--remote=ptcp:6642:10.0.0.2', ...want.slice(1), ...tail], want), false, 'PKI but a plain port');
  assert.equal(sameListeners([...common, ...want, '--remote=ptcp:6642:10.0.0.2', ...tail], want), false, 'a plain port besides');
  const otherKey = [...want.slice(0, 1), '--private-key=/elsewhere.key', ...want.slice(2)];
  assert.equal(sameListeners([...common, ...otherKey, ...tail], want), false, 'other PKI files');
});

test('upgrade: a running one-member cluster from before TLS is started again with pssl: and the PKI, then adopted', { timeout: 60_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'xcpt-ovn-member-'));
  const f = memberFiles(tmp, 'sb');
  after(async () => {
    // Only the server of this test's database file (the pidfile's, its command line naming the file).
    const pid = livePid(f.pidfile, f.file);
    if (pid) await stopAndWait(pid);
    rmSync(tmp, { recursive: true, force: true });
  });
  const central = await new OvnCa(join(tmp, 'ca')).ensureCentral();
  // A loopback address of its own: the member's fixed ports there collide with nothing else.
  const self = '127.83.41.7';
  // As the previous version made it: RAFT and client port plain TCP.
  execFileSync('ovsdb-tool', ['create-cluster', f.file, '/usr/share/ovn/ovn-sb.ovsschema', `tcp:${self}:6644`]);
  execFileSync('ovsdb-server', [f.file, `--remote=punix:${f.sock}`, `--remote=ptcp:6642:${self}`,
    `--pidfile=${f.pidfile}`, '--detach', '--no-chdir', `--log-file=${f.log}`, `--unixctl=${f.ctl}`]);
  const old = livePid(f.pidfile, f.file)!;
  const m = { self, peers: [], creator: true };
  const pid = await ensureClusterMember(tmp, 'sb', m, central);
  assert.notEqual(pid, old, 'started again');
  assert.equal(livePid(f.pidfile, f.file), pid);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(sameListeners(cmdline, memberListenerArgs('sb', m, central)), cmdline.join(' '));
  assert.equal(await ensureClusterMember(tmp, 'sb', m, central), pid, 'one started as now is adopted');
});
