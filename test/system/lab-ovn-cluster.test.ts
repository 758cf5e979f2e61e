// Issue 13: OVN's databases as a 3-member RAFT cluster on host1 (the master), host2 and host3
// (pool other_config:xcpnet-ovn-cluster), guests pinging across; one non-master member's
// northbound and southbound ovsdb-server SIGKILLed: pings still answered, a new network still
// written to the northbound and realised; the member started again rejoins and catches up. Then
// the master's own northbound member (the leader) SIGKILLed: the writer follows the new leader.
// Every ping is bounded in count and time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labsOfThisFile, makeVm, startVm, pifUuid, canRunLab, type TestLab } from '../../src/lab/testkit.js';
import { labDown } from '../../src/lab/index.js';
import { waitFor } from '../../src/lab/pool.js';

const skip = canRunLab();
const lab = labsOfThisFile();
const ovnDir = (l: TestLab) => join(l.state.dir, 'master', 'ovn');

/** The pid of the process listening on `port` in `host`'s namespace. */
async function listener(l: TestLab, host: string, port: number): Promise<number | undefined> {
  const r = await l.exec(host, 'ss', '-Htlnp', `( sport = :${port} )`);
  const m = /pid=(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

/** cluster/status of a member (through its ovsdb-server's control socket, found from its pid). */
async function clusterStatus(l: TestLab, host: string, port: number, db: string): Promise<string> {
  const pid = await listener(l, host, port);
  if (!pid) return '';
  const ctl = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('--unixctl='))!.slice('--unixctl='.length);
  const r = await l.exec(host, 'ovs-appctl', '-t', ctl, 'cluster/status', db);
  return r.stdout;
}

/** How many servers a member's status lists, and whether it is connected to the cluster. */
/** RAFT between the members is TLS: every server is listed at an ssl: address. */
const servers = (status: string) => (status.match(/ at ssl:192\.0\.2\.1[1-3]:664[34]/g) ?? []).length;
const connected = (status: string) => /Status: cluster member/.test(status) && /Leader: (self|[0-9a-f]{4})/.test(status);

/** The master's OVN key, certificate and the pool CA, as OVS's tools take them. */
const masterPki = (l: TestLab): string[] => {
  const d = join(l.state.dir, 'master', 'ovn-pki');
  return ['-p', join(d, 'central.key'), '-c', join(d, 'central.pem'), '-C', join(d, 'pool-ca.pem')];
};

/** The logical switches' names in one member's northbound (read there, leader or not; TLS with the master's certificate). */
async function switchesAt(l: TestLab, host: string, remote: string): Promise<string[]> {
  const pki = remote.startsWith('ssl:') ? masterPki(l) : [];
  const r = await l.exec(host, 'ovn-nbctl', ...pki, `--db=${remote}`, '--no-leader-only', '--bare', '--columns=name', 'list', 'Logical_Switch');
  return r.stdout.split('\n').map((x) => x.trim()).filter(Boolean).sort();
}

async function answered(l: TestLab, from: string, to: string, count: number): Promise<number> {
  const r = await l.exec(from, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', '-w', String(Math.ceil(count / 5) + 3), to);
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
}

test('OVN with a 3-member RAFT cluster: guests ping, a member killed changes neither traffic nor writes, it rejoins', { skip, timeout: 600_000 }, async (t) => {
  const l = await lab('ovncl', { hosts: 3, nics: 1, sdn: 'ovn', ovnCluster: 3 });
  const poolUuid = await l.xe('pool-list', '--minimal');
  const hosts = await Promise.all(['host1', 'host2', 'host3'].map((h) => l.xe('host-list', `name-label=${h}`, '--minimal')));
  assert.equal(await l.xe('pool-param-get', `uuid=${poolUuid}`, 'param-name=other-config', 'param-key=xcpnet-ovn-cluster'), hosts.join(','));
  // Set once: the members cannot change.
  await assert.rejects(l.xe('pool-param-set', `uuid=${poolUuid}`, `other-config:xcpnet-ovn-cluster=${[hosts[1], hosts[0], hosts[2]].join(',')}`), /fixed once set/);
  // Every member of both databases sees three servers and a leader.
  for (const h of ['host1', 'host2', 'host3']) {
    for (const [port, db] of [[6641, 'OVN_Northbound'], [6642, 'OVN_Southbound']] as const) {
      await waitFor(`${h}'s ${db} member in a cluster of 3`, 30_000, async () => {
        const s = await clusterStatus(l, h, port, db);
        return (servers(s) === 3 && connected(s)) || undefined;
      });
    }
  }
  // The agents reach the southbound database at all three members.
  const remote = 'ssl:192.0.2.11:6642,ssl:192.0.2.12:6642,ssl:192.0.2.13:6642';
  assert.equal(await l.xe('pool-param-get', `uuid=${poolUuid}`, 'param-name=other-config', 'param-key=xcpnet-ovn-remote'), remote);
  // Every member's client ports are TLS: a plain client is refused, one with a certificate of the
  // pool CA is let in (bounded by ovsdb-client's --timeout).
  for (const port of [6641, 6642]) {
    const plain = await l.exec('host3', 'ovsdb-client', '--timeout=10', 'list-dbs', `tcp:192.0.2.12:${port}`);
    assert.deepEqual(plain, { code: 1, stdout: '', stderr: 'ovsdb-client: transaction failed (End of file)\n' }, `a plain TCP client of host2's port ${port} is refused (the TLS listener hangs up)`);
    const tls = await l.exec('host3', 'ovsdb-client', '--timeout=10', ...masterPki(l), 'list-dbs', `ssl:192.0.2.12:${port}`);
    assert.ok(tls.code === 0 && tls.stdout.includes('OVN_'), `TLS with the pool CA is let in on host2's port ${port}: ${tls.stderr}`);
  }

  const net = await l.xe('network-create', 'name-label=csp');
  for (const h of ['host1', 'host2', 'host3']) await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${net}`, 'protocol=gre');
  await startVm(l, await makeVm(l, 'c1', net), 'host1', '10.77.0.1/24');
  await startVm(l, await makeVm(l, 'c2', net), 'host2', '10.77.0.2/24');
  await startVm(l, await makeVm(l, 'c3', net), 'host3', '10.77.0.3/24');
  assert.ok(await l.pingSoon('c1', '10.77.0.2', 10), 'host1 guest -> host2 guest');
  assert.ok(await l.pingSoon('c2', '10.77.0.3', 10), 'host2 guest -> host3 guest');
  assert.ok(await l.pingSoon('c3', '10.77.0.1', 10), 'host3 guest -> host1 guest');
  assert.equal((await l.exec('host3', 'ovs-vsctl', 'get', 'Open_vSwitch', '.', 'external_ids:ovn-remote')).stdout.trim(), `"${remote}"`);
  const nbStatus = await clusterStatus(l, 'host3', 6641, 'OVN_Northbound');
  t.diagnostic(`host3's northbound member before the kill: ${/Role: (\w+)/.exec(nbStatus)?.[1]}`);

  // host3's agent is held (SIGSTOP), so that it does not start the members again at once; then
  // its northbound and southbound ovsdb-server are killed.
  const host3 = l.state.hosts.find((h) => h.name === 'host3')!;
  const agentPid = host3.agent!.pid;
  const nbPid = (await listener(l, 'host3', 6641))!;
  const sbPid = (await listener(l, 'host3', 6642))!;
  assert.ok(readArgs(nbPid).some((a) => a.startsWith('--remote=pssl:6641:192.0.2.13')), 'host3 runs a northbound member');
  process.kill(agentPid, 'SIGSTOP');
  try {
    process.kill(nbPid, 'SIGKILL');
    process.kill(sbPid, 'SIGKILL');
    const got = await answered(l, 'c3', '10.77.0.1', 20);
    t.diagnostic(`host3's database members SIGKILLed: ${20 - got} of 20 pings lost (one every 0.2 s)`);
    assert.ok(got >= 15, `at most 5 of 20 pings lost while a member is down, lost ${20 - got}`);
    assert.equal(await listener(l, 'host3', 6641), undefined, 'host3\'s northbound member is down');
    // The northbound still takes xcpnet's writes: a new network, realised with guests on host1 and host2.
    const net2 = await l.xe('network-create', 'name-label=second');
    for (const h of ['host1', 'host2']) await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${net2}`, 'protocol=vxlan');
    await waitFor('the new logical switch in the northbound', 20_000, async () =>
      (await switchesAt(l, 'host1', `unix:${join(ovnDir(l), 'nb.sock')}`)).includes(`xcpnet-${net2}`) || undefined);
    await startVm(l, await makeVm(l, 'd1', net2), 'host1', '10.78.0.1/24');
    await startVm(l, await makeVm(l, 'd2', net2), 'host2', '10.78.0.2/24');
    assert.ok(await l.pingSoon('d1', '10.78.0.2', 10), 'a network made while a member is down carries traffic');
    assert.equal(await listener(l, 'host3', 6641), undefined, 'host3\'s member was down all along');
  } finally {
    process.kill(agentPid, 'SIGCONT');
  }
  // host3's agent starts its members again: they rejoin and catch up with what was written meanwhile.
  for (const [port, db] of [[6641, 'OVN_Northbound'], [6642, 'OVN_Southbound']] as const) {
    await waitFor(`host3's ${db} member back in the cluster`, 30_000, async () => {
      const s = await clusterStatus(l, 'host3', port, db);
      return (servers(s) === 3 && connected(s)) || undefined;
    });
  }
  assert.notEqual(await listener(l, 'host3', 6641), nbPid, 'a new northbound member process on host3');
  const master = await switchesAt(l, 'host1', `unix:${join(ovnDir(l), 'nb.sock')}`);
  await waitFor('host3\'s northbound holds every logical switch', 20_000, async () =>
    JSON.stringify(await switchesAt(l, 'host3', 'ssl:192.0.2.13:6641')) === JSON.stringify(master) || undefined);
  assert.ok(await l.pingSoon('c3', '10.77.0.2'), 'after the member rejoined');

  // The master's own northbound member, the leader, SIGKILLed: a network made meanwhile is still
  // written and realised, and the master starts its member again. (The master restarts its member
  // within a second, so this does not prove the writer moved to the new leader rather than waited:
  // src/backends/ovsdb/cluster.test.ts proves the client follows the leader.)
  const leaderPid = (await listener(l, 'host1', 6641))!;
  assert.match(await clusterStatus(l, 'host1', 6641, 'OVN_Northbound'), /Role: leader/, 'the master\'s member leads');
  process.kill(leaderPid, 'SIGKILL');
  const net3 = await l.xe('network-create', 'name-label=third');
  for (const h of ['host1', 'host2']) await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${net3}`, 'protocol=vxlan');
  await waitFor('the third logical switch in host2\'s northbound', 20_000, async () =>
    (await switchesAt(l, 'host2', 'ssl:192.0.2.12:6641')).includes(`xcpnet-${net3}`) || undefined);
  const newLeader = /Leader: (\w+)/.exec(await clusterStatus(l, 'host2', 6641, 'OVN_Northbound'))?.[1];
  t.diagnostic(`after the master's northbound member was killed, host2's member sees leader ${newLeader}`);
  await waitFor('the master\'s northbound member back in the cluster', 30_000, async () => {
    const pid = await listener(l, 'host1', 6641);
    const s = pid && pid !== leaderPid ? await clusterStatus(l, 'host1', 6641, 'OVN_Northbound') : '';
    return (servers(s) === 3 && connected(s)) || undefined;
  });
  await startVm(l, await makeVm(l, 'e1', net3), 'host1', '10.79.0.1/24');
  await startVm(l, await makeVm(l, 'e2', net3), 'host2', '10.79.0.2/24');
  // Up to 30 tries: ovn-northd, whose northbound member died, reconnects with OVS's backoff (up to
  // 8 s) before the new ports' flows exist; 10 were too few once in CI.
  assert.ok(await l.pingSoon('e1', '10.79.0.2', 30), 'a network written while the leader was down carries traffic');

  await labDown({ name: l.name, stateDir: l.stateDir, progress: () => undefined });
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.ok(!ps.includes(l.state.dir), `no process of the lab is left:\n${ps.split('\n').filter((x) => x.includes(l.state.dir)).join('\n')}`);
});

function readArgs(pid: number | undefined): string[] {
  if (!pid) return [];
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}
