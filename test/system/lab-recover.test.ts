// Issue 14 item 4: `xe pool-recover-slaves` after the master's management address changed. A
// 3-host lab pool; `xe pif-reconfigure-ip` gives host1 (the master) another address in the
// management subnet; its members, still calling the old one, enter emergency mode; the master's
// `xe pool-recover-slaves` lists both members; they follow the master at its new address, leave
// emergency mode, and realise what the pool does afterwards: a cross-server private network
// created then carries a known count of pings between guests on all three hosts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../src/lab/pool.js';
import { canRunLab, labsOfThisFile, makeVm, pifUuid, startVm, type TestLab } from '../../src/lab/testkit.js';
import { MEMBER_FILE, type MemberConfig } from '../../src/protocol/pool-member.js';

const skip = canRunLab();
const lab = labsOfThisFile();
const XE_JS = fileURLToPath(new URL('../../src/bin/xe.js', import.meta.url));

/** The master's new management address: free in the lab's management subnet (hosts are .11 up). */
const NEW_MASTER_IP = '192.0.2.31';
const MEMBERS = ['host2', 'host3'];

/** xe on a member's own socket (that of its `xcpnet serve`), as its root runs it. */
function onMember(l: TestLab, host: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [XE_JS, ...args], { env: { PATH: process.env.PATH, XCPNET_STATE_DIR: join(l.state.dir, 'hosts', host) }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}`.trim() }));
  });
}

const membership = (l: TestLab, host: string): MemberConfig =>
  JSON.parse(readFileSync(join(l.state.dir, 'hosts', host, MEMBER_FILE), 'utf8')) as MemberConfig;

/** `count` pings 0.2 s apart from a guest, bounded by `count / 5 + 10` s: sent and received. */
async function pingRun(l: TestLab, from: string, to: string, count: number): Promise<{ sent: number; received: number; text: string }> {
  const r = await l.exec(from, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', '-w', String(Math.ceil(count / 5) + 10), to);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  return { sent: Number(m[1]), received: Number(m[2]), text: r.stdout };
}

/** Until every member answers host-is-in-emergency-mode with `want` on its own socket. */
async function emergency(l: TestLab, want: 'true' | 'false', timeoutMs: number): Promise<void> {
  await waitFor(`host2 and host3: host-is-in-emergency-mode ${want}`, timeoutMs, async () => {
    for (const h of MEMBERS) {
      const r = await onMember(l, h, 'host-is-in-emergency-mode');
      if (r.code !== 0) throw new Error(`${h}: ${r.out}`);
      if (r.out !== want) return undefined;
    }
    return true;
  });
}

describe('xe pool-recover-slaves in the lab', { skip, concurrency: false }, () => {
  test('the master moves to another address; pool-recover-slaves brings both members back to it', async (t) => {
    const l = await lab('recover', { hosts: 3, nics: 2 });
    const uuidOf = (h: string) => l.xe('host-list', `name-label=${h}`, 'params=uuid', '--minimal');
    const master = await uuidOf('host1');
    const members = await Promise.all(MEMBERS.map(uuidOf));
    await emergency(l, 'false', 10_000);

    // The master's management PIF gets another address: its agent applies it and pings the gateway.
    await l.xe('pif-reconfigure-ip', `uuid=${await pifUuid(l, 'host1', 'eth0')}`, 'mode=static', `IP=${NEW_MASTER_IP}`,
      'netmask=255.255.255.0', 'gateway=192.0.2.1');
    assert.equal(await l.xe('host-param-get', `uuid=${master}`, 'param-name=address'), NEW_MASTER_IP);
    for (const h of MEMBERS) assert.equal(membership(l, h).masterAddress, '192.0.2.11', `${h} still calls the old address`);
    const trustBefore = Object.fromEntries(MEMBERS.map((h) => [h, membership(l, h).trust]));

    // The members cannot reach it: their agents' calls fail, and after a while they say so.
    await emergency(l, 'true', 150_000);

    // Run on the master: both members are told, and listed.
    const recovered = await l.xe('pool-recover-slaves');
    assert.deepEqual(recovered.split('\n').sort(), [...members].sort(), 'xe lists both members\' uuids, one a line');
    for (const h of MEMBERS) {
      const m = membership(l, h);
      assert.equal(m.masterAddress, NEW_MASTER_IP, `${h} follows the master at its new address`);
      assert.equal(m.master, `https://${NEW_MASTER_IP}`);
      assert.ok(trustBefore[h]?.fingerprint, `${h} pinned the master's certificate`);
      assert.deepEqual(m.trust, trustBefore[h], `${h} keeps the master's pinned certificate`);
    }
    await emergency(l, 'false', 60_000);
    const slave = await onMember(l, 'host2', 'host-list');
    assert.deepEqual(slave, { code: 1, out: `This host is a pool member; connect to the master at the given address.\nMaster IP address: ${NEW_MASTER_IP}` },
      'HOST_IS_SLAVE names the new address');

    // What the pool does afterwards reaches the members: a private network made now, with guests
    // on the three hosts, carries every one of a known count of pings across hosts.
    const priv = await l.xe('network-create', 'name-label=after-recovery');
    for (const h of ['host1', 'host2', 'host3']) {
      await l.xe('tunnel-create', `pif-uuid=${await pifUuid(l, h, 'eth0')}`, `network-uuid=${priv}`, 'protocol=vxlan');
    }
    for (const [i, h] of ['host1', 'host2', 'host3'].entries()) await startVm(l, await makeVm(l, `p${i + 1}`, priv), h, `10.77.0.${i + 1}/24`);
    for (const [from, to] of [['p2', '10.77.0.3'], ['p2', '10.77.0.1'], ['p3', '10.77.0.1']] as const) {
      assert.ok(await l.pingSoon(from, to, 20), `${from} -> ${to} over the new private network`);
      const r = await pingRun(l, from, to, 20);
      t.diagnostic(`${from} -> ${to}: ${r.received} of ${r.sent}`);
      assert.equal(r.received, 20, `every ping ${from} -> ${to} answered:\n${r.text}`);
    }
    await l.down();
  });
});
