// VM migration in the lab: a guest pings a peer on another host, counted and bounded, while
// VM.pool_migrate moves it from host1 to host2 and VM.migrate_send (to the dest map of
// host.migrate_receive) brings it back; the guest keeps its address and its traffic (the loss
// is reported and bounded). VM_guest_metrics.networks follows what the guest really has; a
// paused guest passes no traffic; a suspended one's ports leave the host.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { XapiClient } from '../../src/client/index.js';
import { canRunLab, labsOfThisFile, makeVm, pifNetwork, pifUuid, startVm, type TestLab } from '../../src/lab/testkit.js';
import { vmNamespaceName } from '../../src/backends/linux/guests.js';

const skip = canRunLab();
const lab = labsOfThisFile();

/** Polls `probe` every 200 ms until it holds; fails after `ms`. */
async function until(what: string, probe: () => Promise<boolean>, ms = 30_000, detail: () => Promise<string> = async () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await probe()) return; await sleep(200); }
  assert.fail(`timed out: ${what}\n${await detail()}`);
}

const PINGS = 120; // at 0.1 s: 12 s of traffic around each move

/** Starts a bounded ping from the guest; resolves with how many of PINGS came back. */
function pingsFrom(l: TestLab, vm: string, addr: string): Promise<number> {
  return l.exec(vm, 'ping', '-c', String(PINGS), '-i', '0.1', '-W', '1', '-w', '40', addr).then((r) => {
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
    if (!m) throw new Error(`ping output: ${r.stdout} ${r.stderr}`);
    return Number(m[2]);
  });
}

describe('VM migration in the lab', { skip, concurrency: false }, () => {
  test('a guest moves to another host and back with its address and its traffic; guest_metrics.networks follows the guest', async (t) => {
    const l = await lab('mig', { hosts: 2, nics: 2 });
    const net = await pifNetwork(l, 'host1', 'eth1');
    for (const h of ['host1', 'host2']) await l.xe('pif-plug', `uuid=${await pifUuid(l, h, 'eth1')}`);
    const peer = await makeVm(l, 'peer', net);
    await startVm(l, peer, 'host2', '203.0.113.2/24');
    const mover = await makeVm(l, 'mover', net);
    await startVm(l, mover, 'host1', '203.0.113.1/24');
    assert.ok(await l.pingSoon(mover, '203.0.113.2'), 'the guests reach each other before any move');

    const c = await XapiClient.connect({ target: `unix:${l.state.master!.socket}`, user: 'root', password: '' });
    const ref = await c.call<string>('VM.get_by_uuid', mover);
    const hostRef = async (name: string) => (await c.call<string[]>('host.get_by_name_label', name))[0]!;
    const [host1, host2] = [await hostRef('host1'), await hostRef('host2')];
    const networks = async (): Promise<Record<string, string>> => {
      const gm = await c.call<string>('VM.get_guest_metrics', ref);
      return gm === 'OpaqueRef:NULL' ? {} : c.call<Record<string, string>>('VM_guest_metrics.get_networks', gm);
    };
    const show = async () => JSON.stringify(await networks());

    // The guest's address, as its agent would report it; a second one shows up too.
    await until('guest_metrics.networks has the guest\'s address', async () => (await networks())['0/ip'] === '203.0.113.1', 30_000, show);
    assert.equal((await l.exec(mover, 'ip', 'addr', 'add', '198.51.100.7/24', 'dev', 'eth0')).code, 0);
    await until('the second address is reported', async () => (await networks())['0/ipv4/1'] === '198.51.100.7', 30_000, show);
    assert.equal((await networks())['0/ipv4/0'], '203.0.113.1');

    const moves: [string, () => Promise<unknown>, string][] = [
      ['pool_migrate to host2', () => c.call('VM.pool_migrate', ref, host2, { live: 'true' }), host2],
      ['migrate_send back to host1', async () => {
        const mgmt = await c.call<string>('PIF.get_network', await c.call<string>('host.get_management_interface', host1));
        const dest = await c.call<Record<string, string>>('host.migrate_receive', host1, mgmt, {});
        return c.call('VM.migrate_send', ref, dest, true, {}, {}, {}, {});
      }, host1],
    ];
    for (const [what, move, to] of moves) {
      const domid = await c.call<number>('VM.get_domid', ref);
      const pings = pingsFrom(l, mover, '203.0.113.2');
      await sleep(2000);
      await move();
      const received = await pings;
      t.diagnostic(`${what}: ${received} of ${PINGS} pings answered (${PINGS - received} lost)`);
      assert.ok(received >= PINGS - 40, `${what}: at most 40 of ${PINGS} pings lost (4 s), got ${received}`);
      assert.equal(await c.call('VM.get_resident_on', ref), to);
      assert.equal(await c.call('VM.get_power_state', ref), 'Running');
      const newDomid = await c.call<number>('VM.get_domid', ref);
      // The guest kept what its administrator configured, on an interface of its new host.
      const addrs = (await l.exec(mover, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).stdout;
      assert.match(addrs, /203\.0\.113\.1\/24/);
      assert.match(addrs, /198\.51\.100\.7\/24/);
      const toHost = to === host1 ? 'host1' : 'host2';
      const fromHost = to === host1 ? 'host2' : 'host1';
      const port = (await l.exec(toHost, 'ovs-vsctl', 'port-to-br', `vif${newDomid}.0`)).stdout.trim();
      assert.equal(port, await l.xe('network-param-get', `uuid=${net}`, 'param-name=bridge'), `vif${newDomid}.0 is on the network's bridge on ${toHost}`);
      await until(`the old port vif${domid}.0 left ${fromHost}`, async () => (await l.exec(fromHost, 'ovs-vsctl', 'port-to-br', `vif${domid}.0`)).code !== 0);
      const tag = (await l.exec(toHost, 'ip', '-n', vmNamespaceName(l.state.prefix, mover), 'link', 'show', 'dev', 'lo')).stdout;
      const owner = l.state.hosts.find((h) => h.name === toHost)!.uuid!;
      assert.match(tag, new RegExp(`alias xcpnet-guest owner=${owner} domid=${newDomid}\\b`), `${toHost} owns the guest now`);
      assert.ok(await l.pingSoon(mover, '203.0.113.2'), `the guest reaches its peer after ${what}`);
    }
    assert.equal((await networks())['0/ip'], '203.0.113.1', 'the guest\'s address is still reported after the moves');

    // Paused: the port stays, no frame passes (the peer's bounded pings get no answer); unpaused: traffic again.
    await c.call('VM.pause', ref);
    const pausedDomid = await c.call<number>('VM.get_domid', ref);
    assert.equal((await l.exec('host1', 'ovs-vsctl', 'port-to-br', `vif${pausedDomid}.0`)).code, 0, 'the paused VM\'s port stays');
    const silent = await l.exec(peer, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-w', '3', '203.0.113.1');
    assert.match(silent.stdout, /, 0 received/, `a paused guest passes no traffic: ${silent.stdout}`);
    await c.call('VM.unpause', ref);
    assert.ok(await l.pingSoon(mover, '203.0.113.2'), 'traffic again once unpaused');

    // Suspended: the guest's ports leave the host; resumed: they come back.
    const running = await c.call<number>('VM.get_domid', ref);
    await c.call('VM.suspend', ref);
    assert.notEqual((await l.exec('host1', 'ovs-vsctl', 'port-to-br', `vif${running}.0`)).code, 0, 'the suspended VM\'s port is gone');
    await c.call('VM.resume_on', ref, host2, false, false);
    assert.equal(await c.call('VIF.get_currently_attached', (await c.call<string[]>('VM.get_VIFs', ref))[0]), true);
    const resumed = await c.call<number>('VM.get_domid', ref);
    assert.equal((await l.exec('host2', 'ovs-vsctl', 'port-to-br', `vif${resumed}.0`)).code, 0, 'the resumed VM\'s port is back');
    await c.close();
  });
});
