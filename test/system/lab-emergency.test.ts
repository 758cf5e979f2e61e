// Bringing a host back by hand (issue 11 item 1): a member whose master does not answer enters
// emergency mode; `xe host-emergency-management-reconfigure` on the member's own socket puts its
// management on another bridge at once, and the master records it once it answers again;
// `xcpnet reset-networking` puts management on a named NIC with a given configuration.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../src/lab/pool.js';
import { canRunLab, labsOfThisFile, pifUuid, type TestLab } from '../../src/lab/testkit.js';

const skip = canRunLab();
const lab = labsOfThisFile();
const BIN = (name: string) => fileURLToPath(new URL(`../../src/bin/${name}.js`, import.meta.url));

/** Runs xe or xcpnet on host1's own agent socket (as its root would). */
function onHost(l: TestLab, cmd: 'xe' | 'xcpnet', ...args: string[]): Promise<{ code: number; out: string }> {
  return onSocketIn(join(l.state.dir, 'agents', 'host1'), cmd, ...args);
}

/** Runs xe on a member's own socket: that of the `xcpnet serve` its agent runs in, as the lab forms members. */
function onMember(l: TestLab, host: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return onSocketIn(join(l.state.dir, 'hosts', host), 'xe', ...args);
}

function onSocketIn(dir: string, cmd: 'xe' | 'xcpnet', ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN(cmd), ...args], { env: { PATH: process.env.PATH, XCPNET_STATE_DIR: dir }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}`.trim() }));
  });
}

describe('lab emergency mode and reset-networking', { skip, concurrency: false }, () => {
  test('emergency management reconfigure while the master is out, recorded when it is back; reset-networking', async () => {
    // host1 runs the master's serve and its own `xcpnet agent`; host2 is a member, its agent
    // inside its own `xcpnet serve`: both answer emergency mode on their own socket.
    const l = await lab('emerg', { hosts: 2, nics: 2 });
    const eth0 = await pifUuid(l, 'host1', 'eth0');
    const eth1 = await pifUuid(l, 'host1', 'eth1');
    const memberEth1 = await pifUuid(l, 'host2', 'eth1');
    await l.xe('pif-reconfigure-ip', `uuid=${eth1}`, 'mode=static', 'IP=192.0.2.71', 'netmask=255.255.255.0', 'gateway=192.0.2.1');
    await l.xe('pif-reconfigure-ip', `uuid=${memberEth1}`, 'mode=static', 'IP=192.0.2.72', 'netmask=255.255.255.0', 'gateway=192.0.2.1');
    // Plugged and unplugged: both wait for the agent, which has then seen the configuration.
    for (const pif of [eth1, memberEth1]) {
      await l.xe('pif-plug', `uuid=${pif}`);
      await l.xe('pif-unplug', `uuid=${pif}`);
    }
    for (const [who, run] of [['host1', (...a: string[]) => onHost(l, 'xe', ...a)], ['host2', (...a: string[]) => onMember(l, 'host2', ...a)]] as const) {
      assert.deepEqual(await run('host-is-in-emergency-mode'), { code: 0, out: 'false' }, who);
      const refused = await run('host-emergency-management-reconfigure', 'interface=xenbr1');
      assert.notEqual(refused.code, 0);
      assert.match(refused.out, /Only allowed while the host is in emergency mode/);
      const slave = await run('pif-list');
      assert.match(slave.out, /pool member; connect to the master/);
    }

    // The master stops answering (stopped, not killed: its sessions stay valid).
    const master = l.state.master!.proc!.pid;
    process.kill(master, 'SIGSTOP');
    try {
      await waitFor('emergency mode', 120_000, async () => ((await onHost(l, 'xe', 'host-is-in-emergency-mode')).out === 'true' ? true : undefined));
      const r = await onHost(l, 'xe', 'host-emergency-management-reconfigure', 'interface=xenbr1');
      assert.equal(r.code, 0, r.out);
      // Done at once, on the host, with the configuration recorded for eth1's PIF.
      const agentLog = () => readFileSync(join(l.state.dir, 'agents', 'host1.log'), 'utf8').split('\n').slice(-25).join('\n');
      assert.match((await l.exec('host1', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'xenbr1')).stdout, /inet 192\.0\.2\.71\/24/, agentLog());
      assert.match((await l.exec('host1', 'ip', 'route', 'show', 'default')).stdout, /default via 192\.0\.2\.1 dev xenbr1/);
      assert.equal((await l.exec('host1', 'ping', '-c', '1', '-W', '2', '-I', '192.0.2.71', '192.0.2.1')).code, 0);

      // The member, likewise, through its serve's socket.
      await waitFor('emergency mode on the member', 120_000, async () => ((await onMember(l, 'host2', 'host-is-in-emergency-mode')).out === 'true' ? true : undefined));
      const m = await onMember(l, 'host2', 'host-emergency-management-reconfigure', 'interface=xenbr1');
      assert.equal(m.code, 0, m.out);
      assert.match((await l.exec('host2', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'xenbr1')).stdout, /inet 192\.0\.2\.72\/24/);
      assert.match((await l.exec('host2', 'ip', 'route', 'show', 'default')).stdout, /default via 192\.0\.2\.1 dev xenbr1/);
      assert.equal((await l.exec('host2', 'ping', '-c', '1', '-W', '2', '-I', '192.0.2.72', '192.0.2.1')).code, 0);
    } finally {
      process.kill(master, 'SIGCONT');
    }
    await waitFor('the master to record management on eth1', 90_000, async () =>
      ((await l.xe('pif-param-get', `uuid=${eth1}`, 'param-name=management')) === 'true' ? true : undefined))
      .catch((e: Error) => { throw new Error(`${e.message}\nagent log:\n${readFileSync(join(l.state.dir, 'agents', 'host1.log'), 'utf8').split('\n').slice(-30).join('\n')}`); });
    assert.equal(await l.xe('pif-param-get', `uuid=${eth0}`, 'param-name=management'), 'false');
    assert.equal((await onHost(l, 'xe', 'host-is-in-emergency-mode')).out, 'false');
    await waitFor('the master to record the member\'s management on eth1', 90_000, async () =>
      ((await l.xe('pif-param-get', `uuid=${memberEth1}`, 'param-name=management')) === 'true' ? true : undefined));
    assert.equal((await onMember(l, 'host2', 'host-is-in-emergency-mode')).out, 'false');

    // reset-networking: management back on eth0, static, every other PIF down.
    const reset = await onHost(l, 'xcpnet', 'reset-networking', '--device', 'eth0', '--mode', 'static', '--ip', '192.0.2.11',
      '--netmask', '255.255.255.0', '--gateway', '192.0.2.1', '--state-dir', join(l.state.dir, 'agents', 'host1'));
    assert.equal(reset.code, 0, reset.out);
    await waitFor('the master to record management on eth0', 60_000, async () =>
      ((await l.xe('pif-param-get', `uuid=${eth0}`, 'param-name=management')) === 'true' ? true : undefined));
    assert.equal(await l.xe('pif-param-get', `uuid=${eth0}`, 'param-name=IP'), '192.0.2.11');
    assert.match((await l.exec('host1', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'xenbr0')).stdout, /inet 192\.0\.2\.11\/24/);
    assert.match((await l.exec('host1', 'ip', 'route', 'show', 'default')).stdout, /default via 192\.0\.2\.1 dev xenbr0/);
    const bad = await onHost(l, 'xcpnet', 'reset-networking', '--device', 'eth9', '--mode', 'dhcp', '--state-dir', join(l.state.dir, 'agents', 'host1'));
    assert.notEqual(bad.code, 0);
    assert.ok(bad.out.includes('INVALID_VALUE(device, eth9)'), bad.out);
    await l.down();
  });
});
