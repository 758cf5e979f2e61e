// The kernel watch follows changes made outside the agent, in a namespace of its own: a veth
// pair made, set down and up, addressed and unaddressed, renamed and removed by plain `ip`, a
// veth named with an @ (as ip prints a peer), a link removed and made again under its name (read
// again by a fresh helper, and only then), each seen by a look that reads only what changed (the
// full dumps are counted: one at the start, one after the monitor is killed and restarted); the bridge driver finds a guest's link made a moment before it realises, ahead of
// the notification. Waits on the monitor's events, never on time; each wait is bounded. Needs root.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { KernelWatch, type KernelSnapshot } from '../../src/backends/linux/kernel-watch.js';
import { parseKernelLink, type KernelLink } from '../../src/backends/linux/kernel.js';
import { BridgeDriver } from '../../src/backends/bridge/driver.js';
import type { HostDoc } from '../../src/backends/contract.js';

const run = promisify(execFile);
const NS = `xcpkw-${process.pid}`;
const ip = (...args: string[]) => run('ip', ['-n', NS, ...args], { timeout: 15000 });

describe('kernel watch', { skip: process.getuid?.() !== 0 && !process.env.CI ? 'needs root' : false }, () => {
  let watch: KernelWatch<KernelLink>;
  let events = 0;
  let wakeUp: (() => void) | undefined;
  before(async () => {
    await run('ip', ['netns', 'add', NS]);
    await ip('link', 'set', 'lo', 'up');
    watch = new KernelWatch(NS, parseKernelLink);
    watch.onEvent(() => { events++; wakeUp?.(); });
  });
  after(async () => {
    watch?.close();
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  /** Looks after each event until the view satisfies `ok` (at most 50 events, 10 s for each). */
  async function until(what: string, ok: (v: KernelSnapshot<KernelLink>) => boolean): Promise<KernelSnapshot<KernelLink>> {
    for (let i = 0; i < 50; i++) {
      const seen = events;
      const v = await watch.look();
      if (ok(v)) return v;
      if (events === seen) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => { wakeUp = undefined; reject(new Error(`no event within 10 s while waiting for: ${what}`)); }, 10_000);
          wakeUp = () => { clearTimeout(t); wakeUp = undefined; resolve(); };
        });
      }
    }
    throw new Error(`the view never showed: ${what}`);
  }
  const link = (v: KernelSnapshot<KernelLink>, n: string) => v.links.get(n)?.obs;

  test('changes made by others are seen by targeted looks, not full dumps', async () => {
    const first = await watch.look();
    assert.deepEqual([...first.links.keys()], ['lo']);
    assert.equal(watch.fullDumps, 1);
    assert.equal(watch.monitorStarts, 1);

    await ip('link', 'add', 'kwa', 'type', 'veth', 'peer', 'name', 'kwb');
    await until('kwa and kwb made', (v) => link(v, 'kwa') !== undefined && link(v, 'kwb') !== undefined);
    await ip('link', 'set', 'kwa', 'up');
    await until('kwa up', (v) => link(v, 'kwa')?.up === true);
    await ip('link', 'set', 'kwa', 'down');
    await until('kwa down', (v) => link(v, 'kwa')?.up === false);
    await ip('link', 'set', 'kwa', 'up');
    await ip('addr', 'add', '10.77.0.1/24', 'dev', 'kwa');
    await until('kwa addressed', (v) => link(v, 'kwa')?.addrs.includes('10.77.0.1/24') === true);
    await ip('route', 'add', 'default', 'via', '10.77.0.254');
    await until('the default route', (v) => v.defaultRoute?.dev === 'kwa' && v.defaultRoute.via === '10.77.0.254');
    await ip('addr', 'del', '10.77.0.1/24', 'dev', 'kwa');
    await until('kwa unaddressed, the route gone with it', (v) => link(v, 'kwa')?.addrs.length === 0 && v.defaultRoute === undefined);
    await ip('link', 'set', 'kwa', 'down');
    await ip('link', 'set', 'kwa', 'name', 'kwc');
    await until('kwa renamed kwc', (v) => link(v, 'kwa') === undefined && link(v, 'kwc') !== undefined);
    await ip('link', 'del', 'kwc');
    const v = await until('the pair removed', (x) => link(x, 'kwc') === undefined && link(x, 'kwb') === undefined);
    assert.deepEqual([...v.links.keys()], ['lo']);

    assert.equal(watch.fullDumps, 1, 'no full dump after the first');
    assert.ok(watch.targetedLooks >= 7, `targeted looks: ${watch.targetedLooks}`);
  });

  test('a link named with an @ is seen under its name by a targeted look; nothing named, nothing read', async () => {
    const dumps = watch.fullDumps;
    // ip prints this veth as `a@b@kwf`: the name is not cut at the first @.
    await ip('link', 'add', 'a@b', 'type', 'veth', 'peer', 'name', 'kwf');
    await until('a@b made', (v) => link(v, 'a@b') !== undefined && link(v, 'kwf') !== undefined);
    assert.equal(link(await watch.look(), 'a'), undefined);
    await ip('link', 'del', 'a@b');
    await until('a@b removed', (v) => link(v, 'a@b') === undefined && link(v, 'kwf') === undefined);
    assert.equal(watch.fullDumps, dumps, 'no full dump');
    const looks = watch.targetedLooks;
    watch.markDirty([]);
    await watch.look();
    assert.equal(watch.targetedLooks, looks, 'an empty list reads nothing (not even the route)');
  });

  test('a link removed and made again under its name is read as the new one, not as gone', async () => {
    await ip('link', 'add', 'kwg', 'address', '02:00:00:00:77:01', 'type', 'veth', 'peer', 'name', 'kwh');
    await until('kwg made', (v) => link(v, 'kwg')?.mac === '02:00:00:00:77:01');
    // Asked for by name once more, so that the helper answering next has read kwg itself.
    watch.markDirty(['kwg']);
    assert.equal(link(await watch.look(), 'kwg')?.mac, '02:00:00:00:77:01');
    const restarts = watch.batchRestarts;
    // Removed and made again in one turn of the event loop, as a guest's vif is on its return;
    // the helper that read kwg before still holds its old index.
    execFileSync('ip', ['-n', NS, 'link', 'del', 'kwg'], { timeout: 15000 });
    execFileSync('ip', ['-n', NS, 'link', 'add', 'kwg', 'address', '02:00:00:00:77:02', 'type', 'veth', 'peer', 'name', 'kwh'], { timeout: 15000 });
    watch.markDirty(['kwg', 'kwh']);
    const v = await watch.look();
    assert.equal(link(v, 'kwg')?.mac, '02:00:00:00:77:02', 'the new kwg');
    assert.ok(link(v, 'kwh') !== undefined, 'and its peer');
    assert.equal(watch.batchRestarts, restarts + 1, 'read again by a fresh helper');
    await ip('link', 'del', 'kwg');
    await until('kwg removed', (x) => link(x, 'kwg') === undefined && link(x, 'kwh') === undefined);
  });

  test('names the helper never resolved leave it running: a veth\'s name@peer reading, a link expected but missing', async () => {
    await ip('link', 'add', 'kwi', 'type', 'veth', 'peer', 'name', 'kwj');
    await until('kwi made', (v) => link(v, 'kwi') !== undefined && link(v, 'kwj') !== undefined);
    const restarts = watch.batchRestarts;
    // The monitor prints `kwi@kwj`: the look asks for kwi and for a link named kwi@kwj.
    await ip('link', 'set', 'kwi', 'up');
    await until('kwi up', (v) => link(v, 'kwi')?.up === true);
    watch.markDirty(['kwnone']);
    assert.equal(link(await watch.look(), 'kwnone'), undefined);
    assert.equal(watch.batchRestarts, restarts, 'the same helper answered');
    await ip('link', 'del', 'kwi');
    await until('kwi removed', (x) => link(x, 'kwi') === undefined && link(x, 'kwj') === undefined);
  });

  test('the bridge driver asks for a link its document names before the notification of it arrives', async () => {
    const driver = await BridgeDriver.open({ netns: NS, host: '11111111-2222-3333-4444-555555555555' });
    try {
      const net = 'aaaaaaaa-0000-0000-0000-000000000009';
      const doc: HostDoc = {
        host: '11111111-2222-3333-4444-555555555555', addresses: [],
        bridges: [{ name: 'xapi9', owner: 'OpaqueRef:net', networkUuid: net, mtu: 1500, mac: null, tunnels: [] }],
        vifs: [{ owner: 'OpaqueRef:vif', name: 'vif9.0', bridge: 'xapi9', mac: '02:00:00:00:09:00', mtu: 1500, locking: 'unlocked',
          ipv4_allowed: [], ipv6_allowed: [], vifUuid: 'aaaaaaaa-0000-0000-0000-000000000010', vmUuid: 'aaaaaaaa-0000-0000-0000-000000000011',
          networkUuid: net, vmDomid: 9, device: 0 }],
      };
      // Made synchronously and realised in the same turn of the event loop: the monitor's line
      // about vif9.0 cannot have been read yet, so only asking for it finds it.
      execFileSync('ip', ['-n', NS, 'link', 'add', 'vif9.0', 'type', 'veth', 'peer', 'name', 'kwp'], { timeout: 15000 });
      const r = await driver.realise(doc);
      assert.deepEqual(r.errors, {});
      assert.ok(r.changes.includes('add vif9.0 to xapi9'), JSON.stringify(r.changes));
    } finally {
      await driver.close();
      await ip('link', 'del', 'vif9.0').catch(() => undefined);
      await ip('link', 'del', 'xapi9').catch(() => undefined);
    }
  });

  test('a monitor that dies is restarted, with one full dump, and followed again', async () => {
    const dumps = watch.fullDumps;
    const seen = events;
    watch.killMonitor();
    // Its death is an event too (the agent is woken to look again).
    await until('the monitor restarted', () => events > seen && watch.monitorStarts === 2);
    assert.equal(watch.fullDumps, dumps + 1, 'one full dump after the restart');
    await ip('link', 'add', 'kwd', 'type', 'veth', 'peer', 'name', 'kwe');
    await until('kwd made', (v) => link(v, 'kwd') !== undefined);
    assert.equal(watch.fullDumps, dumps + 1, 'and none after it');
  });

  test('a monitor that cannot start (no such namespace) is not started again at once', async () => {
    const lost = new KernelWatch(`${NS}-gone`, parseKernelLink);
    let wakes = 0;
    lost.onEvent(() => { wakes++; });
    try {
      await assert.rejects(lost.look(), /Cannot open network namespace|No such file/);
      const woken = wakes;
      await assert.rejects(lost.look());
      assert.equal(lost.monitorStarts, 1, 'the second look waits out the pause');
      assert.equal(wakes, woken, 'and wakes no one');
    } finally { lost.close(); }
  });
});
