// Issue 11: a pool of installed hosts. host2 runs as `xcpnet install-services` makes it run, with
// the units' very commands (serve --no-agent, and xcpnet agent --membership … --manage-nics apart,
// pointed at the lab host's state/run/conf directories): it joins host1's pool with the real
// `xe pool-join` over TLS and its agent, never restarted and its settings never edited, follows:
// the pool's VLAN network is realised on host2's Open vSwitch and a guest there pings one on
// host1. After `xe pool-eject` the same agent follows back to host2's own serve, drops the pool's
// networks and realises what host2's own pool asks. Every ping is bounded in count and time.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labsOfThisFile, makeVm, startVm, pifUuid, canRunLab, labCli, xeOn, type TestLab } from '../../src/lab/testkit.js';
import { hostDir, waitFor } from '../../src/lab/pool.js';
import { findHost } from '../../src/lab/topology.js';
import { isRecordedAlive, type ProcRecord } from '../../src/lab/state.js';
import { killProcesses } from '../../src/lab/ovs.js';

const skip = canRunLab();
const lab = labsOfThisFile();


async function ports(l: TestLab, host: string): Promise<string[]> {
  const r = await l.exec(host, 'ovs-vsctl', '--format=csv', '--no-headings', '--columns=name', 'list', 'Interface');
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((n) => n.replace(/^"|"$/g, ''));
}

/** host2's agent's pid, as the lab's state file has it now (restart-agent changes it). */
const h2AgentPid = (l: TestLab): number => (JSON.parse(readFileSync(join(l.state.dir, 'state.json'), 'utf8')) as { hosts: { name: string; serviceAgent?: { pid: number } }[] })
  .hosts.find((h) => h.name === 'host2')!.serviceAgent!.pid;

const bridges = async (l: TestLab, host: string): Promise<string[]> => (await l.exec(host, 'ovs-vsctl', 'list-br')).stdout.trim().split('\n');

describe('a pool of installed hosts: the agent follows xe pool-join and xe pool-eject', { skip, concurrency: false }, () => {
  test('host2 as installed services joins, its networks are realised and a guest pings; ejected, its agent follows back', async () => {
    const l = await lab('svc', { hosts: 2, nics: 2, standalone: true, services: true });
    const h2 = findHost(l.state, 'host2');
    const own = hostDir(l.state, 'host2');
    const agent = h2.serviceAgent;
    assert.ok(agent && isRecordedAlive(agent), 'host2\'s agent runs apart from its serve');
    // The installed units' commands: serve without an agent, the agent following the membership.
    const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const serveArgv = argvOf(h2.agent!.pid);
    assert.deepEqual(serveArgv.slice(serveArgv.indexOf('serve'), serveArgv.indexOf('serve') + 2), ['serve', '--no-agent']);
    const agentArgv = argvOf(agent.pid);
    assert.deepEqual(agentArgv.slice(agentArgv.indexOf('agent'), agentArgv.indexOf('--manage-nics') + 1), ['agent', '--master', `unix:${join(own, 'xapi.sock')}`,
      '--host', h2.uuid, '--credential-file', join(own, 'agent-credential'), '--membership', join(own, 'pool-member.json'), '--manage-nics']);
    assert.deepEqual(await xeOn(l, 'host2', 'host-list', 'params=name-label', '--minimal'), { code: 0, out: 'host2' }, 'host2 is a pool of one');

    // The real xe pool-join on host2, over TLS; host2's agent is not restarted.
    assert.match(await labCli(l, 'join', 'host2'), /host2: joined the pool with xe pool-join/);
    assert.equal(await l.xe('host-list', 'params=name-label', '--minimal').then((s) => s.split(',').sort().join(',')), 'host1,host2');
    const member = JSON.parse(readFileSync(join(own, 'pool-member.json'), 'utf8')) as { host: string; trust?: { fingerprint?: string } };
    assert.match(member.trust?.fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'the join recorded how the master is trusted');

    // A VLAN network across both hosts, a guest on each: realised on host2 by its agent.
    const vlan = await l.xe('network-create', 'name-label=vlan10');
    for (const h of ['host1', 'host2']) await l.xe('vlan-create', `pif-uuid=${await pifUuid(l, h, 'eth1')}`, 'vlan=10', `network-uuid=${vlan}`);
    const bridge = await l.xe('network-param-get', `uuid=${vlan}`, 'param-name=bridge');
    const v1 = await makeVm(l, 'v1', vlan);
    const v2 = await makeVm(l, 'v2', vlan);
    await startVm(l, v1, 'host1', '198.51.100.21/24');
    await startVm(l, v2, 'host2', '198.51.100.22/24');
    assert.ok((await bridges(l, 'host2')).includes(bridge), `host2 has the pool's VLAN bridge ${bridge}`);
    assert.ok((await ports(l, 'host2')).some((p) => /^vif\d+\.0$/.test(p)), 'host2 has its guest\'s port');
    assert.ok(await l.pingSoon('v1', '198.51.100.22'), 'VLAN host1 -> host2');
    assert.equal(isRecordedAlive(agent), true, 'the same agent process');
    const agentLog = join(l.state.dir, 'agents', 'host2-agent.log');
    assert.match(readFileSync(agentLog, 'utf8'), /pool member now: following its master https:\/\/192\.0\.2\.11/);
    // Its local copy of the host configuration is the pool's, under the host's ref in the pool.
    const cacheFile = join(own, 'agent', 'host-config.json');
    await waitFor('the agent\'s copy saved under the pool\'s ref', 10_000, () =>
      existsSync(cacheFile) && (JSON.parse(readFileSync(cacheFile, 'utf8')) as { hostRef: string }).hostRef === member.host ? true : undefined);

    // The agent restarted on a member (a reboot, a crash): it goes to the pool's master at once,
    // starting from its copy; the guest's shutdown is realised by it (the call waits for that).
    assert.match(await labCli(l, 'restart-agent', 'host2'), /host2: agent restarted/);
    const again = h2AgentPid(l);
    assert.notEqual(again, agent.pid);
    // The restarted agent starts with the pool's master, and from its copy (saved under its ref there).
    await waitFor('the restarted agent running', 10_000, () => {
      const log = readFileSync(agentLog, 'utf8');
      const since = log.lastIndexOf('this host is a pool member: its master is https://192.0.2.11');
      return since > 0 && /local copy of the host configuration found[\s\S]*agent for host \S+ running/.test(log.slice(since)) ? true : undefined;
    });
    assert.ok(await l.pingSoon('v1', '198.51.100.22'), 'VLAN host1 -> host2 after the agent\'s restart');

    // xe pool-eject on the master: host2 is standalone again, and its agent follows back.
    await l.xe('vm-shutdown', `uuid=${v2}`);
    assert.match(await labCli(l, 'eject', 'host2'), /host2: ejected with xe pool-eject; standalone again/);
    assert.deepEqual(await xeOn(l, 'host2', 'host-list', 'params=name-label', '--minimal'), { code: 0, out: 'host2' });
    await waitFor('the pool\'s VLAN bridge gone from host2', 30_000, async () => !(await bridges(l, 'host2')).includes(bridge) ? true : undefined);
    // host2's own pool: a VLAN made there is realised (VLAN.create waits for the agent's report).
    const localNet = (await xeOn(l, 'host2', 'network-create', 'name-label=local20')).out;
    const eth1 = (await xeOn(l, 'host2', 'pif-list', 'device=eth1', 'VLAN=-1', 'params=uuid', '--minimal')).out;
    const made = await xeOn(l, 'host2', 'vlan-create', `pif-uuid=${eth1}`, 'vlan=20', `network-uuid=${localNet}`);
    assert.equal(made.code, 0, made.out);
    const localBridge = (await xeOn(l, 'host2', 'network-param-get', `uuid=${localNet}`, 'param-name=bridge')).out;
    assert.ok((await bridges(l, 'host2')).includes(localBridge), `host2's own VLAN bridge ${localBridge}`);
    assert.equal(h2AgentPid(l), again, 'still the same agent process');
    assert.match(readFileSync(agentLog, 'utf8'), /no pool member now: back to unix:/);
    const saved = JSON.parse(readFileSync(cacheFile, 'utf8')) as { hostRef: string };
    assert.notEqual(saved.hostRef, member.host, 'its copy is its own pool\'s again');

    // A stale copy: host2 joins again, its agent dies while it is a member, the host is ejected,
    // and the agent starts again: the pool's configuration of host2 (same uuid, the pool's ref)
    // is not realised; host2's own records are.
    await xeOn(l, 'host2', 'vlan-destroy', `uuid=${(await xeOn(l, 'host2', 'vlan-list', 'params=uuid', '--minimal')).out}`);
    assert.match(await labCli(l, 'join', 'host2'), /host2: joined the pool/);
    const rejoined = (JSON.parse(readFileSync(join(own, 'pool-member.json'), 'utf8')) as { host: string }).host;
    await waitFor('the agent\'s copy saved under host2\'s new ref in the pool', 10_000, () =>
      (JSON.parse(readFileSync(cacheFile, 'utf8')) as { hostRef: string }).hostRef === rejoined ? true : undefined);
    const dying = JSON.parse(readFileSync(join(l.state.dir, 'state.json'), 'utf8')) as { hosts: { name: string; serviceAgent: ProcRecord }[] };
    await killProcesses([dying.hosts.find((h) => h.name === 'host2')!.serviceAgent], 0, 'SIGKILL');
    assert.match(await labCli(l, 'eject', 'host2'), /host2: ejected/);
    assert.match(await labCli(l, 'restart-agent', 'host2'), /host2: agent restarted/);
    await waitFor('the pool\'s copy refused and host2\'s own records realised', 30_000, () => {
      const log = readFileSync(agentLog, 'utf8');
      const tail = log.slice(log.lastIndexOf('ignored: it was saved in another pool'));
      return /ignored: it was saved in another pool \(this host was OpaqueRef:\S+ there, is OpaqueRef:\S+ now\)/.test(tail)
        && (JSON.parse(readFileSync(cacheFile, 'utf8')) as { hostRef: string }).hostRef === saved.hostRef ? true : undefined;
    });
    assert.doesNotMatch(readFileSync(agentLog, 'utf8').slice(readFileSync(agentLog, 'utf8').lastIndexOf('ignored: it was saved in another pool')),
      /realised the local copy/, 'nothing realised from the pool\'s copy');
    await l.down();
  });
});
