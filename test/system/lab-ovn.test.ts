// Issue 13: a pool's cross-server private networks on OVN, end to end in a lab of four hosts
// (userspace datapath): the master's northbound writer, ovn-northd, one ovn-controller per
// chassis, guests pinging across hosts. Every ping is bounded in count and time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commonNameOf } from '../../src/common/ovn-pki.js';
import { labsOfThisFile, makeVm, startVm, pifUuid, canRunLab, ovsRows, nextCfg, type TestLab } from '../../src/lab/testkit.js';
import { labDown, labRestartAgent, labRestartMaster } from '../../src/lab/index.js';
import { waitFor } from '../../src/lab/pool.js';

const skip = canRunLab();
const lab = labsOfThisFile();

const ovnDir = (l: TestLab) => join(l.state.dir, 'master', 'ovn');

/** Every row of xcpnet's northbound tables with its _uuid and columns, sorted. */
function nbRows(l: TestLab): string[] {
  const out: string[] = [];
  for (const table of ['Logical_Switch', 'Logical_Switch_Port']) {
    const text = execFileSync('ovn-nbctl', [`--db=unix:${join(ovnDir(l), 'nb.sock')}`, '--format=csv', '--no-headings', '--data=bare', 'list', table], { encoding: 'utf8', timeout: 10_000 });
    out.push(...text.trim().split('\n').filter(Boolean).map((line) => `${table} ${line}`));
  }
  return out.sort();
}

/** The hosts connected to the southbound database: the peer addresses of its TCP port in host1's namespace. */
async function sbPeers(l: TestLab): Promise<string[]> {
  const r = await l.exec('host1', 'ss', '-Htn', 'state', 'established', '( sport = :6642 )');
  return [...new Set(r.stdout.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/).at(-1)!.replace(/:\d+$/, '')))].sort();
}

/** The OVN key and certificate that host `uuid`'s agent keeps (found by the certificate's CN). */
function chassisPki(l: TestLab, uuid: string): { key: string; cert: string } {
  for (const f of readdirSync(l.state.dir, { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('ovn-pki/chassis.pem')) continue;
    const cert = join(l.state.dir, f);
    if (commonNameOf(new X509Certificate(readFileSync(cert))) === uuid) return { cert, key: cert.replace(/\.pem$/, '.key') };
  }
  assert.fail(`no OVN certificate of host ${uuid} in ${l.state.dir}`);
}

/**
 * The southbound listener is TLS with the pool CA, and each chassis may change only its own rows:
 * tried from host4 (not yet a chassis) with ovsdb-client, bounded by its --timeout.
 */
async function checkSouthboundSecurity(l: TestLab): Promise<void> {
  const sb = 'ssl:192.0.2.11:6642';
  const poolCa = join(l.state.dir, 'master', 'ovn-pki', 'pool-ca.pem');
  const client = (...argv: string[]) => l.exec('host4', 'ovsdb-client', '--timeout=10', ...argv);
  const plain = await client('list-dbs', 'tcp:192.0.2.11:6642');
  // The TLS listener hangs up on a plain client (not refused: the port is open).
  assert.deepEqual(plain, { code: 1, stdout: '', stderr: 'ovsdb-client: transaction failed (End of file)\n' }, 'a plain TCP client is refused');
  const [host2, host3] = [await l.xe('host-list', 'name-label=host2', '--minimal'), await l.xe('host-list', 'name-label=host3', '--minimal')];
  const pki2 = chassisPki(l, host2);
  assert.equal(statSync(pki2.key).mode & 0o777, 0o600, 'the chassis key is 0600');
  const as2 = (...argv: string[]) => client('-p', pki2.key, '-c', pki2.cert, '-C', poolCa, ...argv);
  const listed = await as2('list-dbs', sb);
  assert.ok(listed.code === 0 && listed.stdout.includes('OVN_Southbound'), `host2's certificate is let in: ${listed.stderr}`);
  // A certificate naming host2, from a CA of one's own: refused, though the client trusts the server.
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-forged-'));
  try {
    const [key, cert] = [join(dir, 'forged.key'), join(dir, 'forged.pem')];
    execFileSync('openssl', ['req', '-x509', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', `/CN=${host2}`, '-days', '1', '-out', cert], { stdio: 'ignore', timeout: 30_000 });
    const forged = await client('-p', key, '-c', cert, '-C', poolCa, 'list-dbs', sb);
    assert.ok(forged.code === 1 && forged.stdout === '', `a certificate not signed by the pool CA is refused: ${forged.stdout}`);
    assert.match(forged.stderr, /SSL_read: error:0A000418:SSL routines::tlsv1 alert unknown ca/, 'by the server\'s TLS, for its CA');
  } finally { rmSync(dir, { recursive: true, force: true }); }
  // RBAC: host2's certificate may mark its own Chassis row, not host3's.
  const mark = (chassis: string) => JSON.stringify(['OVN_Southbound',
    { op: 'mutate', table: 'Chassis', where: [['name', '==', chassis]], mutations: [['external_ids', 'insert', ['map', [['xcpnet-rbac-test', 'x']]]]] }]);
  const unmark = JSON.stringify(['OVN_Southbound',
    { op: 'mutate', table: 'Chassis', where: [['name', '==', host2]], mutations: [['external_ids', 'delete', ['set', ['xcpnet-rbac-test']]]] }]);
  const own = await as2('transact', sb, mark(host2));
  assert.ok(own.code === 0 && /"count":1/.test(own.stdout), `host2 changes its own chassis: ${own.stdout}${own.stderr}`);
  assert.equal((await as2('transact', sb, unmark)).code, 0);
  const other = await as2('transact', sb, mark(host3));
  assert.match(other.stdout + other.stderr, /permission error/, 'host2 cannot change host3\'s chassis');
  const ids3 = execFileSync('ovn-sbctl', [`--db=unix:${join(ovnDir(l), 'sb.sock')}`, '--bare', '--columns=external_ids', 'find', 'Chassis', `name=${host3}`], { encoding: 'utf8', timeout: 10_000 });
  assert.ok(!ids3.includes('xcpnet-rbac-test'), `host3's chassis unchanged: ${ids3}`);
}

/** A bounded ping of `count` packets every 0.2 s; how many were answered. */
async function answered(l: TestLab, from: string, to: string, count: number): Promise<number> {
  const r = await l.exec(from, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', '-w', String(Math.ceil(count / 5) + 3), to);
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
}

test('OVN pool: guests on four hosts, isolation, port security, a new chassis, ovn-controller killed, master restarted, mesh and back, lab down', { skip, timeout: 600_000 }, async (t) => {
  const l = await lab('ovn', { hosts: 4, nics: 1, sdn: 'ovn' });
  assert.equal(await l.xe('pool-param-get', `uuid=${await l.xe('pool-list', '--minimal')}`, 'param-name=other-config', 'param-key=xcpnet-sdn'), 'ovn');
  const net = await l.xe('network-create', 'name-label=csp');
  const other = await l.xe('network-create', 'name-label=other');
  // csp over gre, which OVN carries as Geneve; the other network over VXLAN.
  for (const h of ['host1', 'host2', 'host3']) {
    await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${net}`, 'protocol=gre');
  }
  for (const h of ['host1', 'host2']) {
    await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${other}`, 'protocol=vxlan');
  }
  // tunnel.status from the southbound chassis: every tunnel active.
  await waitFor('every tunnel active', 20_000, async () =>
    (await l.xe('tunnel-list', 'params=status', '--minimal')).split(',').every((s) => s.includes('active: true')) || undefined);
  // Each chassis reaches the southbound database over the management network, at host1's address.
  assert.equal(await l.xe('pool-param-get', `uuid=${await l.xe('pool-list', '--minimal')}`, 'param-name=other-config', 'param-key=xcpnet-ovn-remote'), 'ssl:192.0.2.11:6642');
  assert.equal((await l.exec('host3', 'ovs-vsctl', 'get', 'Open_vSwitch', '.', 'external_ids:ovn-remote')).stdout.trim(), '"ssl:192.0.2.11:6642"');
  await waitFor('hosts 1-3 connected to the southbound database', 20_000, async () => (await sbPeers(l)).join(' ') === '192.0.2.11 192.0.2.12 192.0.2.13' || undefined);
  await checkSouthboundSecurity(l);
  // The pool CA the chassis' certificates must be of, as the master publishes it.
  assert.equal(await l.xe('pool-param-get', `uuid=${await l.xe('pool-list', '--minimal')}`, 'param-name=other-config', 'param-key=xcpnet-ovn-ca'),
    new X509Certificate(readFileSync(join(l.state.dir, 'master', 'ovn-pki', 'pool-ca.pem'))).fingerprint256);
  // No mesh port anywhere: OVN's own tunnel ports on br-int only.
  const show = (await l.exec('host1', 'ovs-vsctl', 'show')).stdout;
  assert.ok(show.includes('Bridge br-int') && /type: geneve/.test(show), show);
  assert.ok(!/Port t[0-9a-f]{14}\b/.test(show), 'no mesh tunnel port');

  await startVm(l, await makeVm(l, 'c1', net), 'host1', '10.77.0.1/24');
  await startVm(l, await makeVm(l, 'c2', net), 'host2', '10.77.0.2/24');
  await startVm(l, await makeVm(l, 'c3', net), 'host3', '10.77.0.3/24');
  await startVm(l, await makeVm(l, 'o2', other), 'host2', '10.77.0.9/24');
  assert.ok(await l.pingSoon('c1', '10.77.0.2'), 'host1 guest -> host2 guest');
  assert.ok(await l.pingSoon('c2', '10.77.0.3'), 'host2 guest -> host3 guest');
  assert.ok(await l.pingSoon('c3', '10.77.0.1'), 'host3 guest -> host1 guest');
  assert.equal(await l.ping('o2', '10.77.0.1'), false, 'a guest on the other network cannot reach them');
  // With guests running: active means the chassis is up and their ports are bound to it.
  await waitFor('every tunnel active with its guests bound', 20_000, async () =>
    (await l.xe('tunnel-list', 'params=status', '--minimal')).split(',').every((s) => s.includes('active: true')) || undefined);
  assert.equal(await l.ping('o2', '10.77.0.2'), false, 'not even on its own host');

  // Port security: c2 sends from a second address; unlocked it passes, locked it is dropped.
  assert.equal((await l.exec('c2', 'ip', 'addr', 'add', '10.77.0.66/24', 'dev', 'eth0')).code, 0);
  assert.ok(await l.pingSoon('c2', '10.77.0.1'), 'unlocked');
  assert.ok((await l.exec('c2', 'ping', '-c', '2', '-W', '1', '-I', '10.77.0.66', '10.77.0.1')).code === 0, 'an unlocked VIF may send from any address');
  const vif2 = await l.xe('vif-list', `vm-uuid=${await l.xe('vm-list', 'name-label=c2', '--minimal')}`, '--minimal');
  await l.xe('vif-param-set', `uuid=${vif2}`, 'locking-mode=locked', 'ipv4-allowed=10.77.0.2');
  await waitFor('c2 locked in the northbound', 10_000, () => nbRows(l).some((r) => r.includes('10.77.0.2')) || undefined);
  assert.ok(await l.pingSoon('c2', '10.77.0.1'), 'locked: its allowed address still passes');
  await l.exec('c1', 'ip', 'neigh', 'flush', 'all');
  assert.notEqual((await l.exec('c2', 'ping', '-c', '3', '-W', '1', '-I', '10.77.0.66', '10.77.0.1')).code, 0, 'locked: a spoofed source is dropped');

  // A fourth host becomes a chassis of the network: its guest is reachable.
  await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, 'host4', 'eth0')}`, `network-uuid=${net}`, 'protocol=gre');
  await startVm(l, await makeVm(l, 'c4', net), 'host4', '10.77.0.4/24');
  assert.ok(await l.pingSoon('c4', '10.77.0.1', 10), 'host4 guest -> host1 guest');
  assert.ok(await l.pingSoon('c3', '10.77.0.4'), 'host3 guest -> host4 guest');
  assert.deepEqual(await sbPeers(l), ['192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14'], 'host4 connected to the southbound database too');
  // One tunnel per other chassis, whatever the networks: host1 carries two networks to three
  // hosts with three tunnel ports (the mesh would have four: three for csp, one for other).
  const tunnels: string[] = [];
  for (const type of ['geneve', 'vxlan']) {
    tunnels.push(...(await l.exec('host1', 'ovs-vsctl', '--bare', '--columns=name', 'find', 'Interface', `type=${type}`)).stdout.split('\n').filter(Boolean));
  }
  assert.equal(tunnels.length, 3, `host1's tunnel ports: ${tunnels.join(' ')}`);

  // ovn-controller killed on host1: the agent starts it again; the flows stay meanwhile.
  const pidfile = join(l.state.dir, 'ovs', 'host1', 'ovn-controller.pid');
  const killed = Number(readFileSync(pidfile, 'utf8').trim());
  process.kill(killed, 'SIGKILL');
  const got = await answered(l, 'c3', '10.77.0.1', 20);
  t.diagnostic(`ovn-controller SIGKILL on host1: ${20 - got} of 20 pings lost (one every 0.2 s)`);
  assert.ok(got >= 15, `at most 5 of 20 pings lost while ovn-controller restarts, lost ${20 - got}`);
  await waitFor('ovn-controller running again', 10_000, () => {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    try { process.kill(pid, 0); } catch { return undefined; }
    return pid !== killed || undefined;
  });
  assert.ok(await l.pingSoon('c2', '10.77.0.1'), 'after the restart of ovn-controller');

  // A master restart rewrites nothing in the northbound database: same rows, same uuids, no transaction.
  const before = nbRows(l);
  const log = join(l.state.dir, 'master', 'serve.log');
  const connects = () => readFileSync(log, 'utf8').split('\n').filter((x) => x.includes('ovn: northbound unix:')).length;
  const started = connects();
  await labRestartMaster({ name: l.name, stateDir: l.stateDir, progress: () => undefined });
  await waitFor('the new master connected to its northbound', 20_000, () => connects() > started || undefined);
  // A change after the restart is written: the new writer's first pass (which comes before it) is done.
  await l.xe('vif-param-set', `uuid=${vif2}`, 'ipv4-allowed=10.77.0.2,10.77.0.5');
  await waitFor('the change in the northbound', 10_000, () => nbRows(l).some((r) => r.includes('10.77.0.5')) || undefined);
  assert.deepEqual(nbRows(l).map((r) => r.replaceAll(' 10.77.0.5', '')), before, 'the restart changed no row: same uuids, same values');
  assert.ok(await l.pingSoon('c1', '10.77.0.3'), 'traffic after the master restart');

  // An agent restart on a chassis rewrites nothing either: it adopts ovn-controller and its switch.
  const rows1 = await ovsRows(l, 'host1');
  const cfg1 = await nextCfg(l, 'host1');
  const controller = readFileSync(pidfile, 'utf8').trim();
  // Every committed OVSDB transaction, whoever makes it, appends to the database file.
  const confDb = join(l.state.dir, 'ovs', 'host1', 'conf.db');
  const confSize = statSync(confDb).size;
  await labRestartAgent({ name: l.name, stateDir: l.stateDir, host: 'host1', progress: () => undefined });
  // PIF.scan returns once the new agent has answered, after its first full pass.
  await l.xe('pif-scan', `host-uuid=${await l.xe('host-list', 'name-label=host1', '--minimal')}`);
  assert.deepEqual(await ovsRows(l, 'host1'), rows1, 'no row of host1 removed or re-added');
  assert.equal(await nextCfg(l, 'host1'), cfg1, 'the new agent wrote nothing to OVSDB');
  assert.equal(statSync(confDb).size, confSize, 'no OVSDB transaction at all on host1 (the chassis keys are not rewritten)');
  assert.equal(readFileSync(pidfile, 'utf8').trim(), controller, 'the same ovn-controller');
  assert.ok(await l.pingSoon('c2', '10.77.0.1'), 'after the agent restart');

  // Switching the pool to the mesh and back moves its networks across, guests and all.
  const poolUuid = await l.xe('pool-list', '--minimal');
  await l.xe('pool-param-set', `uuid=${poolUuid}`, 'other-config:xcpnet-sdn=mesh');
  await waitFor('host1 without br-int', 20_000, async () => !(await l.exec('host1', 'ovs-vsctl', 'br-exists', 'br-int')).code ? undefined : true);
  assert.ok(await l.pingSoon('c1', '10.77.0.3', 10), 'on the mesh: host1 guest -> host3 guest');
  assert.ok(await l.pingSoon('c4', '10.77.0.2', 10), 'on the mesh: host4 guest -> host2 guest');
  assert.match((await l.exec('host1', 'ovs-vsctl', 'show')).stdout, /Port t[0-9a-f]{14}\b/, 'mesh ports are back');
  assert.equal(await l.ping('o2', '10.77.0.1'), false, 'still isolated on the mesh');
  await l.xe('pool-param-set', `uuid=${poolUuid}`, 'other-config:xcpnet-sdn=ovn');
  await waitFor('host1 with br-int again', 20_000, async () => (await l.exec('host1', 'ovs-vsctl', 'br-exists', 'br-int')).code === 0 || undefined);
  assert.ok(await l.pingSoon('c1', '10.77.0.4', 10), 'on OVN again: host1 guest -> host4 guest');

  // lab down leaves nothing: no process naming the lab's directory, no namespace of the lab.
  await labDown({ name: l.name, stateDir: l.stateDir, progress: () => undefined });
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.ok(!ps.includes(l.state.dir), `no process of the lab is left:\n${ps.split('\n').filter((x) => x.includes(l.state.dir)).join('\n')}`);
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.ok(!ns.includes(l.state.prefix), `no namespace of the lab is left: ${ns}`);
});
