// Issue 6 `lab restart-agent HOST` / issue 5 "hitless": SIGKILL an agent while a guest pings
// another across hosts; the new agent picks up without a lost ping and without removing or
// re-adding a single OVSDB row. Each from a fresh lab; every ping bounded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRecordedAlive } from '../../src/lab/state.js';
import { labsOfThisFile, makeVm, startVm, pifUuid, canRunLab, type TestLab, ovsRows, nextCfg } from '../../src/lab/testkit.js';

const XCPNET_JS = fileURLToPath(new URL('../../src/bin/xcpnet.js', import.meta.url));
const skip = canRunLab();
const lab = labsOfThisFile();

/** `xcpnet lab restart-agent HOST` on the lab, as a user runs it. */
function restartAgent(l: TestLab, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [XCPNET_JS, 'lab', 'restart-agent', host, '--name', l.name, '--state-dir', l.stateDir],
      { timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`lab restart-agent ${host}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout).trim());
      });
  });
}

describe('lab restart-agent: hitless agent restarts', { skip, concurrency: false }, () => {
  test('SIGKILL + restart of both agents keeps a cross-host ping going; OVSDB rows keep their uuids', async (t) => {
    const l = await lab('rst', { hosts: 2, nics: 2 });
    const net = await l.xe('network-create', 'name-label=hitless');
    for (const h of ['host1', 'host2']) {
      await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${net}`, 'protocol=vxlan');
    }
    await startVm(l, await makeVm(l, 'r1', net), 'host1', '10.78.0.1/24');
    await startVm(l, await makeVm(l, 'r2', net), 'host2', '10.78.0.2/24');
    assert.ok(await l.pingSoon('r1', '10.78.0.2'), 'r1 -> r2 over the tunnel before the restarts');
    const hostUuid = (h: string) => l.xe('host-list', `name-label=${h}`, 'params=uuid', '--minimal');
    const rowsBefore = { host1: await ovsRows(l, 'host1'), host2: await ovsRows(l, 'host2') };
    const cfgBefore = { host1: await nextCfg(l, 'host1'), host2: await nextCfg(l, 'host2') };
    assert.ok(rowsBefore.host1.some((r) => /^Port .*,vif\d+\.0$/.test(r)) && rowsBefore.host1.some((r) => /^Interface .*,t[0-9a-f]{14}$/.test(r)),
      `host1 has a VIF port and a tunnel before the restart:\n${rowsBefore.host1.join('\n')}`);

    // 100 pings 0.1 s apart (bounded: -w 20); both agents are killed and restarted meanwhile.
    const running = l.exec('r1', 'ping', '-c', '100', '-i', '0.1', '-W', '1', '-w', '20', '10.78.0.2');
    await sleep(1000);
    for (const h of ['host1', 'host2'] as const) {
      const old = l.state.hosts.find((x) => x.name === h)!.agent!;
      const oldPid = old.pid;
      const said = await restartAgent(l, h);
      const newPid = Number(/agent restarted \(pid (\d+)\)/.exec(said)?.[1]);
      assert.ok(newPid > 0 && newPid !== oldPid, `${h}: a new agent (was pid ${oldPid}): ${said}`);
      // Not running (a zombie counts as gone: this process, its parent, may not have reaped it yet).
      assert.equal(isRecordedAlive(old), false, `${h}: the old agent (pid ${oldPid}) is gone`);
      // PIF.scan returns once the host's agent has answered: the new agent is up and has
      // compiled, observed and reconciled the whole pool at least once.
      await l.xe('pif-scan', `host-uuid=${await hostUuid(h)}`);
      await sleep(1500); // and give it time to do anything it wrongly wants to do
    }
    const r = await running;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    const lost = Number(m[1]) - Number(m[2]);
    t.diagnostic(`agent restarts on host1 and host2: ${lost} of ${m[1]} pings lost`);
    assert.ok(Number(m[2]) > 0 && lost <= 1, `a hitless restart loses no ping (at most one under load); lost ${lost} of ${m[1]}`);

    for (const h of ['host1', 'host2'] as const) {
      assert.deepEqual(await ovsRows(l, h), rowsBefore[h], `${h}: no bridge, port or interface removed or re-added`);
      assert.equal(await nextCfg(l, h), cfgBefore[h], `${h}: the new agent wrote nothing to OVSDB`);
    }
    assert.ok(await l.ping('r1', '10.78.0.2'), 'traffic still flows after the restarts');
    await l.down();
  });
});
