// Secrets at rest in a real lab: the master's root password lives only in a 0600 file of the
// 0700 lab directory; no process the lab starts carries it in its command line (what `ps` shows
// every user); no log and no `lab env` output holds it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labsOfThisFile, canRunLab } from '../../src/lab/testkit.js';
import { labEnv } from '../../src/lab/index.js';
import { loadState, masterPassword, statePath, type LabState } from '../../src/lab/state.js';

const XCPNET_JS = fileURLToPath(new URL('../../src/bin/xcpnet.js', import.meta.url));
const skip = canRunLab();
const lab = labsOfThisFile();
const modeOf = (p: string): string => (statSync(p).mode & 0o777).toString(8);

function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
}

/** Every process the lab recorded: OVS daemons, the master, the agents. */
function labPids(state: LabState): number[] {
  return [...state.processes.map((p) => p.pid), state.master!.proc!.pid, ...state.hosts.map((h) => h.agent!.pid)];
}

/** Command lines of every process on the machine that holds `secret`. */
function processesShowing(secret: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try { if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(secret)) out.push(`${pid}: ${cmdline(Number(pid))}`); } catch { /* gone */ }
  }
  return out;
}

describe('lab secrets', { skip, concurrency: false }, () => {
  test('the password is in a 0600 file only: not in state.json, logs, lab env or any command line', async () => {
    const l = await lab('sec', { hosts: 2, nics: 1 });
    const dir = l.state.dir;
    const password = masterPassword(l.state);
    assert.ok(password.length >= 12, 'a generated password');

    assert.equal(modeOf(dir), '700', 'lab directory');
    const master = join(dir, 'master');
    assert.equal(modeOf(master), '700', 'master state directory');
    assert.equal(modeOf(join(dir, 'agents')), '700', 'agents directory');
    assert.equal(l.state.master!.passwordFile, join(master, 'root-password'));
    for (const f of [statePath(dir), join(master, 'root-password'), join(master, 'xcpnet.db'), join(master, 'serve.log'),
      join(dir, 'agents', 'host1.log'), join(dir, 'agents', 'host2.log'), join(dir, 'agents', 'host1.pid')]) {
      assert.equal(modeOf(f), '600', f);
    }
    for (const f of ['xcpnet.db-wal', 'xcpnet.db-shm']) if (existsSync(join(master, f))) assert.equal(modeOf(join(master, f)), '600', f);

    for (const f of [statePath(dir), join(master, 'serve.log'), join(dir, 'agents', 'host1.log'), join(dir, 'agents', 'host2.log')]) {
      assert.ok(!readFileSync(f, 'utf8').includes(password), `${f} does not hold the password`);
    }
    assert.ok(!labEnv({ name: l.name, stateDir: l.stateDir }).includes(password), 'lab env prints no password');

    for (const pid of labPids(l.state)) assert.ok(!cmdline(pid).includes(password), `pid ${pid}: ${cmdline(pid)}`);
    assert.deepEqual(processesShowing(password), [], 'no process on the machine shows the password');
    // No agent holds it: each logs in with its own host credential, a 0600 file: host1's agent
    // with the one its master wrote, a member's serve (which runs its agent) with the one the
    // master gave it at pool.join, in its own 0700 state directory.
    for (const h of l.state.hosts) {
      const agentPid = h.agent!.pid;
      assert.ok(!readFileSync(`/proc/${agentPid}/environ`, 'utf8').includes(password), `${h.name}'s agent has no password in its environment`);
      if (h.name === 'host1') {
        const cred = join(dir, 'agents', `${h.name}.credential`);
        assert.equal(modeOf(cred), '600', cred);
        assert.ok(cmdline(agentPid).includes(cred), `${h.name}'s agent logs in with ${cred}`);
        continue;
      }
      const own = join(dir, 'hosts', h.name);
      assert.equal(modeOf(own), '700', own);
      const member = join(own, 'pool-member.json');
      assert.equal(modeOf(member), '600', member);
      const cfg = JSON.parse(readFileSync(member, 'utf8')) as { secret: string; host: string };
      assert.ok(cfg.secret.length >= 16 && !cfg.secret.includes(password), `${h.name} holds a host credential, not the password`);
      assert.ok(cmdline(agentPid).includes(`serve --state-dir ${own}`), `${h.name}'s serve runs its agent: ${cmdline(agentPid)}`);
      for (const f of readdirSync(own)) {
        const p = join(own, f);
        if (statSync(p).isFile()) assert.ok(!readFileSync(p).includes(password), `${p} does not hold the password`);
      }
    }

    // xe, pointed at the lab by `lab env`, logs in; an agent restarted by `lab restart-agent` too.
    assert.match(await l.xe('host-list', 'params=name-label', '--minimal'), /host1/);
    execFileSync(process.execPath, [XCPNET_JS, 'lab', 'restart-agent', 'host2', '--name', l.name, '--state-dir', l.stateDir], { timeout: 30_000 });
    const after = loadState(dir)!;
    const restarted = after.hosts[1]!.agent!.pid;
    assert.notEqual(restarted, l.state.hosts[1]!.agent!.pid);
    assert.ok(!cmdline(restarted).includes(password), cmdline(restarted));
    const host2 = await l.xe('host-list', 'name-label=host2', 'params=uuid', '--minimal');
    await l.xe('pif-scan', `host-uuid=${host2}`); // answered only by a running, logged-in agent
    assert.ok(!readFileSync(join(dir, 'agents', 'host2.log'), 'utf8').includes(password), 'the new agent does not log it');
    await l.down();
  });
});
