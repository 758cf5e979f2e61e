// The VM tier: what the namespace lab cannot show, because this machine's kernel has no
// openvswitch module. A QEMU (TCG) VM boots Debian's kernel, its virtio NICs cabled to the lab
// switch through taps in the switch namespace; Open vSwitch runs in it on the kernel datapath
// and the xcpnet agent realises what a master in the lab's upstream namespace asks for.
// One VM serves every test of the file (booting is the expensive part); everything is made
// under a unique lab prefix and removed in after(), the VM included, also when a test fails.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { XapiClient } from '../../src/client/index.js';
import { labDown, labUp, type LabState } from '../../src/lab/index.js';
import { waitFor } from '../../src/lab/pool.js';
import { startVmHost, startVmMaster, type VmHost, type VmMaster } from '../../src/lab/vm/host.js';
import { findGuestKernel, vmTierSkipReason } from '../../src/lab/vm/kernel.js';

const run = promisify(execFile);
const skip = vmTierSkipReason();
const NAME = `vmk${process.pid % 100000}`;
const log = (l: string): void => { process.stderr.write(`# ${l}\n`); };

let stateDir = '';
let state: LabState;
let master: VmMaster;
let host: VmHost;
let c: XapiClient;
let hostRef = '';
let failed = false;

/** A test of this file; a failure also prints the guest's agent log and console in after(). */
function vmTest(name: string, timeout: number, fn: () => Promise<void>): void {
  test(name, { timeout }, async () => {
    try { await fn(); } catch (e) { failed = true; throw e; }
  });
}

/** A bounded ping from the lab's upstream namespace: `count` packets `intervalS` apart. */
async function ping(addr: string, count: number, intervalS = 0.2): Promise<{ sent: number; received: number }> {
  // Exactly `count` sent (no -w: with it ping keeps sending until `count` replies); the exec timeout bounds it.
  const r = await run('ip', ['netns', 'exec', `${state.prefix}up`, 'ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', addr],
    { timeout: (count * intervalS + 10) * 1000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`ping ${addr}: no summary in ${JSON.stringify(r.stdout)}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

/**
 * A bounded ping from upstream, `count` packets `intervalS` apart, read as it runs: a step waits
 * for a number of replies instead of a sleep; `done` gives the sequence numbers answered once
 * ping has ended.
 */
interface PingStream {
  /** Resolves once `n` replies have come; rejects when ping ends with fewer. */
  replies(n: number): Promise<void>;
  /** Replies so far, and the highest sequence number answered. */
  count(): number;
  highest(): number;
  /** Ends ping before its count (its replies so far are kept). */
  stop(): void;
  done: Promise<Set<number>>;
}

function pingStream(addr: string, count: number, intervalS: number): PingStream {
  // The exec timeout bounds it too (a ping that hangs).
  const p = spawn('ip', ['netns', 'exec', `${state.prefix}up`, 'ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', addr],
    { stdio: ['ignore', 'pipe', 'ignore'], timeout: (count * intervalS + 10) * 1000 });
  const seqs = new Set<number>();
  const waiting: { n: number; resolve: () => void }[] = [];
  let text = '';
  p.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const l of lines) { const m = /icmp_seq=(\d+) /.exec(l); if (m) seqs.add(Number(m[1])); }
    for (const w of waiting.filter((x) => seqs.size >= x.n)) w.resolve();
  });
  const done = new Promise<Set<number>>((resolve) => p.once('close', () => resolve(seqs)));
  return {
    replies: (n) => (seqs.size >= n ? Promise.resolve() : Promise.race([
      new Promise<void>((resolve) => waiting.push({ n, resolve })),
      done.then(() => { throw new Error(`ping ${addr}: ended with ${seqs.size} replies, fewer than ${n}`); }),
    ])),
    count: () => seqs.size,
    highest: () => Math.max(0, ...seqs),
    stop: () => { p.kill('SIGINT'); },
    done,
  };
}

/** Waits until one ping gets through (ARP, the agent's last step), bounded. */
async function reachable(addr: string): Promise<void> {
  await waitFor(`a reply from ${addr}`, 30_000, async () => ((await ping(addr, 1)).received === 1 ? true : undefined));
}

interface PifRec { uuid: string; host: string; device: string; VLAN: number; physical: boolean; network: string; currently_attached: boolean }

async function pifOf(device: string, vlan = -1): Promise<[string, PifRec]> {
  const all = Object.entries(await c.call<Record<string, PifRec>>('PIF.get_all_records'));
  const found = all.find(([, p]) => p.host === hostRef && p.device === device && Number(p.VLAN) === vlan);
  if (!found) throw new Error(`no PIF ${device} VLAN ${vlan} on ${host.name}`);
  return found;
}

async function bridgeOf(pifRef: string): Promise<string> {
  return c.call<string>('network.get_bridge', await c.call<string>('PIF.get_network', pifRef));
}

/** Kernel datapath lookups so far (`ovs-dpctl show`: "lookups: hit:H missed:M lost:L"). */
async function lookups(): Promise<number> {
  const out = await host.vm.run(['ovs-dpctl', 'show']);
  const m = /lookups: hit:(\d+) missed:(\d+)/.exec(out);
  if (!m) throw new Error(`no lookups in ovs-dpctl show:\n${out}`);
  return Number(m[1]) + Number(m[2]);
}

/** An address on a VLAN network over `parentPif`, plugged: what the agent must realise. */
async function vlanWithAddress(parentPif: string, tag: number, address: string): Promise<{ pif: string; bridge: string }> {
  const net = await c.call<string>('network.create', { name_label: `vlan${tag}`, name_description: '', MTU: 1500, other_config: {} });
  const vlan = await c.call<string>('VLAN.create', parentPif, tag, net);
  const pif = await c.call<string>('VLAN.get_untagged_PIF', vlan);
  await c.call('PIF.reconfigure_ip', pif, 'Static', address, '255.255.255.0', '', '');
  await c.call('PIF.plug', pif);
  return { pif, bridge: await c.call<string>('network.get_bridge', net) };
}

describe('VM tier: the kernel datapath in a QEMU VM', { skip, concurrency: false }, () => {
  before(async () => {
    stateDir = mkdtempSync('/tmp/xcpt-vm-');
    const started = Date.now();
    state = await labUp({ name: NAME, stateDir, hosts: 1, nics: 1, pool: false, progress: log });
    master = await startVmMaster(state, log);
    host = await startVmHost(state, master, { index: 1, nics: 4, progress: log });
    c = await master.client();
    hostRef = await c.call<string>('host.get_by_uuid', host.uuid);
    log(`VM host ready ${((Date.now() - started) / 1000).toFixed(1)} s after the start (boot ${(host.vm.bootMs / 1000).toFixed(1)} s)`);
  });

  after(async () => {
    if (host && failed) {
      const agentLog = await host.agentLog().catch((e: Error) => `(unreadable: ${e.message})`);
      log(`agent log (end):\n${agentLog.split('\n').slice(-40).join('\n')}\nconsole (end):\n${host.vm.consoleTail()}`);
    }
    await c?.close().catch(() => undefined);
    await host?.stop().catch(() => undefined);
    if (stateDir) {
      await labDown({ name: NAME, stateDir, progress: () => undefined }).catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  vmTest('Open vSwitch in the VM runs on the kernel datapath', 120_000, async () => {
    assert.equal((await host.vm.run(['uname', '-r'])).trim(), findGuestKernel().release, 'the guest runs the extracted Debian kernel');
    assert.match(await host.vm.run(['ovs-vsctl', 'get', 'Open_vSwitch', '.', 'datapath_types']), /\bsystem\b/);
    await host.vm.run(['ovs-vsctl', '--timeout=30', 'add-br', 'kdp0', '--', 'set', 'bridge', 'kdp0', 'datapath_type=system']);
    try {
      assert.equal((await host.vm.run(['ovs-vsctl', 'get', 'bridge', 'kdp0', 'datapath_type'])).trim(), 'system');
      const dp = await host.vm.run(['ovs-dpctl', 'show']);
      assert.match(dp, /^system@ovs-system:/m, dp);
      assert.match(dp, /port \d+: kdp0 \(internal\)/, dp);
    } finally {
      await host.vm.run(['ovs-vsctl', '--timeout=30', 'del-br', 'kdp0']);
    }
  });

  vmTest('the agent in the VM realises a VLAN on eth1 with an address; upstream reaches it through the kernel datapath', 240_000, async () => {
    // PIF.scan asks the agent for its NICs: until it has reported them once, there is nothing to scan.
    await waitFor('PIFs for eth0..eth3', 90_000, async () => {
      await c.call('PIF.scan', hostRef);
      const devs = Object.values(await c.call<Record<string, PifRec>>('PIF.get_all_records')).filter((p) => p.host === hostRef && p.physical).map((p) => p.device).sort();
      return devs.join(' ') === 'eth0 eth1 eth2 eth3' ? true : undefined;
    });
    const [eth1] = await pifOf('eth1');
    const { pif, bridge } = await vlanWithAddress(eth1, 10, '198.51.100.50');
    assert.equal(await c.call<boolean>('PIF.get_currently_attached', pif), true);
    const parent = await bridgeOf(eth1);
    // The VLAN's bridge is an OVS fake bridge on eth1's bridge, which is on the kernel datapath.
    assert.equal((await host.vm.run(['ovs-vsctl', 'br-to-parent', bridge])).trim(), parent);
    assert.equal((await host.vm.run(['ovs-vsctl', 'br-to-vlan', bridge])).trim(), '10');
    const dpif = await host.vm.run(['ovs-appctl', 'dpif/show']);
    assert.match(dpif, new RegExp(`^system@ovs-system:`, 'm'), dpif);
    assert.match(dpif, new RegExp(`^  ${parent}:$`, 'm'), dpif);
    const dp = await host.vm.run(['ovs-dpctl', 'show']);
    for (const port of ['eth1', parent, bridge]) assert.match(dp, new RegExp(`port \\d+: ${port.replace(/\./g, '\\.')}\\b`), dp);
    assert.match(await host.vm.run(['ip', '-4', '-o', 'addr', 'show', 'dev', bridge]), /inet 198\.51\.100\.50\/24/);

    await reachable('198.51.100.50');
    const before = await lookups();
    const p = await ping('198.51.100.50', 20);
    assert.deepEqual(p, { sent: 20, received: 20 }, 'every ping over VLAN 10 answered');
    // Requests and replies cross the kernel datapath: its lookup counters moved by at least that much.
    assert.ok((await lookups()) - before >= 40, 'the kernel datapath carried the pings');
  });

  vmTest('an active-backup bond over eth2+eth3 with VLAN 20 keeps answering when the active cable is pulled', 300_000, async () => {
    const [eth2] = await pifOf('eth2');
    const [eth3] = await pifOf('eth3');
    const bondNet = await c.call<string>('network.create', { name_label: 'bond', name_description: '', MTU: 1500, other_config: {} });
    const bond = await c.call<string>('Bond.create', bondNet, [eth2, eth3], '', 'active-backup', {});
    const bondPif = await c.call<string>('Bond.get_master', bond);
    const { bridge } = await vlanWithAddress(bondPif, 20, '203.0.113.50');
    const bondBridge = await c.call<string>('network.get_bridge', bondNet);
    assert.equal((await host.vm.run(['ovs-vsctl', 'br-to-parent', bridge])).trim(), bondBridge);
    await reachable('203.0.113.50');
    await waitFor('both bond members up', 30_000, async () => ((await c.call<number>('Bond.get_links_up', bond)) === 2 ? true : undefined));
    const show = await host.vm.run(['ovs-appctl', 'bond/show']);
    const active = /active (?:member|slave) mac: [0-9a-f:]+\((eth[23])\)/.exec(show)?.[1] ??
      /(?:member|slave) (eth[23]): enabled\s+active (?:member|slave)/.exec(show)?.[1];
    assert.ok(active, show);
    // 100 pings 0.1 s apart, the active member's cable pulled once 10 have been answered.
    const running = pingStream('203.0.113.50', 100, 0.1);
    await running.replies(10);
    await host.setCable(active, false);
    const answered = await running.done;
    const lost = 100 - answered.size;
    const missing = Array.from({ length: 100 }, (_, i) => i + 1).filter((seq) => !answered.has(seq));
    log(`bond: pulled ${active}; lost ${lost} of 100 pings (${missing.join(' ') || 'none'})`);
    assert.ok(lost <= 10, `at most 10 of 100 pings (1 s) lost to the failover, lost ${lost}`);
    assert.deepEqual(await ping('203.0.113.50', 10), { sent: 10, received: 10 }, 'no loss on the remaining member');
    await waitFor('links_up = 1', 30_000, async () => ((await c.call<number>('Bond.get_links_up', bond)) === 1 ? true : undefined));
    await host.setCable(active, true);
    await waitFor('links_up = 2 again', 30_000, async () => ((await c.call<number>('Bond.get_links_up', bond)) === 2 ? true : undefined));
  });

  vmTest('management moves onto eth0, which holds the address: at most 1 s of loss, none for the 60 s after', 240_000, async () => {
    const [eth0] = await pifOf('eth0');
    let doneAtSeq = 0;
    const interval = 0.2;
    const after = 60 / interval; // replies that must follow the call: 60 s of pings
    // Bounded by its count (200 s); stopped once 60 s of replies have followed the call.
    const running = pingStream(host.mgmtIp, 1000, interval);
    try {
      await running.replies(10);
      await c.call('PIF.reconfigure_ip', eth0, 'Static', host.mgmtIp, '255.255.255.0', '192.0.2.1', '');
      await c.call('host.management_reconfigure', eth0);
      // Returned: the move is done and confirmed by the agent (it reached the master from xenbr0).
      // From here on every ping is answered: any loss is within 1 s (5 pings) of the last reply seen.
      doneAtSeq = running.highest();
      await running.replies(running.count() + after);
    } finally { running.stop(); }
    const answered = await running.done;
    const last = Math.max(...answered);
    const lost = Array.from({ length: last }, (_, i) => i + 1).filter((q) => !answered.has(q));
    log(`management move: returned after reply ${doneAtSeq}; ${lost.length} of ${last} pings lost${lost.length ? ` (seq ${lost[0]}..${lost[lost.length - 1]})` : ''}`);
    assert.ok(last - doneAtSeq >= after, `${last - doneAtSeq} pings answered after the call returned, fewer than 60 s of them`);
    assert.ok(lost.length <= 1 / interval, `at most 1 s of loss, lost ${lost.length} pings`);
    assert.ok(lost.every((q) => q <= doneAtSeq + 1 / interval), `no loss once the call returned (lost ${lost.join(' ')}; last reply before it returned: ${doneAtSeq})`);
    assert.equal((await host.vm.run(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).trim(), '', 'eth0 keeps no address');
    const bridge = await bridgeOf(eth0);
    assert.match(await host.vm.run(['ip', '-4', '-o', 'addr', 'show', 'dev', bridge]), new RegExp(`inet ${host.mgmtIp.replace(/\./g, '\\.')}/24`));
    assert.match(await host.vm.run(['ip', 'route', 'show', 'default']), new RegExp(`default via 192\\.0\\.2\\.1 dev ${bridge}`));
    await c.call('PIF.scan', hostRef); // needs the agent: HOST_OFFLINE if it lost the master
  });

  vmTest('a management change that cuts the host off is rolled back: the old address answers again, the agent is back, the records too', 240_000, async () => {
    const [eth0] = await pifOf('eth0');
    const bridge = await bridgeOf(eth0);
    // A subnet the lab has nowhere (198.18.0.0/15, benchmarking): its gateway never answers ARP.
    // (Not one of the lab's other subnets: upstream is one namespace holding all their gateways,
    // and Linux answers ARP for any of its addresses on any interface.)
    const started = Date.now();
    const err = await c.call('PIF.reconfigure_ip', eth0, 'Static', '198.18.0.51', '255.255.255.0', '198.18.0.1', '')
      .then(() => undefined, (e: { code?: string; params?: string[] }) => e);
    const took = (Date.now() - started) / 1000;
    log(`cut-off management change: failed after ${took.toFixed(1)} s with ${JSON.stringify(err)}`);
    assert.equal(err?.code, 'PIF_CONFIGURATION_ERROR');
    assert.equal(err?.params?.[0], eth0);
    assert.match(err?.params?.[1] ?? '', /management change rolled back: the master at 192\.0\.2\.1:\d+ could not be reached from the new configuration within 2\d s/);
    assert.ok(took < 60, `rolled back within a bounded time (${took.toFixed(1)} s)`);
    // The records say what the host is: the previous address, attached, management.
    const rec = await c.call<{ IP: string; gateway: string; currently_attached: boolean; management: boolean }>('PIF.get_record', eth0);
    assert.deepEqual([rec.IP, rec.gateway, rec.currently_attached, rec.management], [host.mgmtIp, '192.0.2.1', true, true]);
    assert.deepEqual(await ping(host.mgmtIp, 20), { sent: 20, received: 20 }, 'the old address answers');
    assert.match(await host.vm.run(['ip', '-4', '-o', 'addr', 'show', 'dev', bridge]), new RegExp(`inet ${host.mgmtIp.replace(/\./g, '\\.')}/24`));
    assert.doesNotMatch(await host.vm.run(['ip', '-4', '-o', 'addr', 'show']), /198\.18\.0\.51/);
    await c.call('PIF.scan', hostRef); // the agent is back with the master
  });

  vmTest('DHCP: the VLAN 10 PIF leases an address from the lab upstream with udhcpc, and releases it when set back to static', 180_000, async () => {
    const [vlanPif] = await pifOf('eth1', 10);
    await c.call('PIF.reconfigure_ip', vlanPif, 'DHCP', '', '', '', '');
    const leased = await waitFor('a DHCP address on VLAN 10', 60_000, async () => {
      const ip = await c.call<string>('PIF.get_IP', vlanPif);
      return /^198\.51\.100\.1\d\d$/.test(ip) ? ip : undefined;
    });
    log(`DHCP: VLAN 10 PIF leased ${leased}`);
    const bridge = await bridgeOf(vlanPif);
    assert.match(await host.vm.run(['ip', '-4', '-o', 'addr', 'show', 'dev', bridge]), new RegExp(`inet ${leased.replace(/\./g, '\\.')}/24`));
    assert.match(await host.vm.run(['cat', `/run/xcpnet/agent/dhcp/${bridge}.lease`]), new RegExp(`^ip=${leased.replace(/\./g, '\\.')}$`, 'm'));
    await reachable(leased);
    assert.deepEqual(await ping(leased, 10), { sent: 10, received: 10 });
    await c.call('PIF.reconfigure_ip', vlanPif, 'Static', '198.51.100.50', '255.255.255.0', '', '');
    const dnsmasqLog = join(state.dir, 'dhcp-server', 'dnsmasq.log');
    await waitFor('the release at the server', 30_000, async () => (readFileSync(dnsmasqLog, 'utf8').includes(`DHCPRELEASE(vlan10) ${leased} `) ? true : undefined));
    assert.doesNotMatch(await host.vm.run(['ip', '-4', '-o', 'addr', 'show', 'dev', bridge]), new RegExp(leased.replace(/\./g, '\\.')));
  });
});
