// Runs the scenario suite (scenarios.ts) against one driver: for each step, the records are
// compiled for each host, the agent's reconcile runs (guests, then the driver), and the host as
// the driver observes it must be exactly the expected one; a second pass must change and
// write nothing. The same suite runs on the fake and on the OVS driver over its in-memory switch
// (test/scenarios/*.test.ts, every commit, no root) and on each real backend
// (test/system/scenarios-*.test.ts, as root). A new target is one Target value; the system files
// need only root, iproute2 and the kernel, so the VM tier can run them as they are inside a VM
// whose kernel has 8021q and bonding, where the bridge backend's VLAN and bond scenarios run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileHost } from '../../src/agent/desired.js';
import { reconcile } from '../../src/agent/reconcile.js';
import type { GuestDriver, HostDriver, HostState, Nic, ObservedBridge } from '../../src/backends/contract.js';
import { HOST_UUIDS, newWorld, SCENARIOS, type ExpectedBridge, type ExpectedHost, type Feature, type World } from './scenarios.js';

export interface TargetHost { driver: HostDriver; guests: GuestDriver }

export interface Target {
  name: string;
  /** Features this target cannot run here: scenarios that need them are skipped, saying why. */
  lacks(): Promise<Partial<Record<Feature, string>>>;
  /** Fresh hosts (index i has uuid HOST_UUIDS[i], NICs eth0..eth3; eth1 of host 0 and 1 cabled together). */
  open(n: number): Promise<TargetHost[]>;
  close(hosts: TargetHost[]): Promise<void>;
  /** The facts of NIC `device` of host `i`, as the driver must report them. */
  expectedNic(i: number, device: string): Promise<Nic>;
}

/** Pure: the observed bridge in the terms of an expected one (only the fields it names). */
function view(b: ObservedBridge, want: ExpectedBridge): ExpectedBridge {
  const out: ExpectedBridge = { name: b.name };
  if ('uplink' in want || b.uplink) {
    const u = b.uplink;
    if (u) out.uplink = u.kind === 'nic' ? { kind: 'nic', device: u.device }
      : { kind: 'bond', device: u.device, members: u.members.map((m) => m.name).sort(), mode: u.mode ?? 'balance-slb' };
  }
  if (b.vlan || want.vlan) { if (b.vlan) out.vlan = { ...b.vlan }; }
  if (want.tunnels) out.tunnels = b.tunnels.map((t) => ({ protocol: t.protocol as 'gre' | 'vxlan', remote: t.remote, key: t.key })).sort((x, y) => x.remote.localeCompare(y.remote));
  if (want.vifs) out.vifs = [...b.vifs].sort();
  if (want.addrs) out.addrs = [...b.addrs].sort();
  if (want.mtu !== undefined && b.mtu !== null) out.mtu = b.mtu;
  return out;
}

export function assertHost(state: HostState, want: ExpectedHost, where: string): void {
  const ours = state.bridges.filter((b) => b.ours);
  assert.deepEqual(ours.map((b) => b.name).sort(), want.bridges.map((b) => b.name).sort(), `${where}: bridges`);
  for (const w of want.bridges) {
    const b = ours.find((x) => x.name === w.name)!;
    const norm = { ...w, ...(w.vifs ? { vifs: [...w.vifs].sort() } : {}), ...(w.addrs ? { addrs: [...w.addrs].sort() } : {}) };
    assert.deepEqual(view(b, w), norm, `${where}: bridge ${w.name}`);
  }
  if (want.defaultRoute) assert.deepEqual(state.defaultRoute, want.defaultRoute, `${where}: default route`);
}

export function scenarioSuite(target: Target): void {
  let lacks: Partial<Record<Feature, string>> = {};
  before(async () => { lacks = await target.lacks(); });

  describe(`${target.name}: NIC inventory`, () => {
    test('every NIC with its known facts (carrier, speed, duplex, driver…)', async () => {
      const hosts = await target.open(1);
      try {
        const nics = await hosts[0]!.driver.nics();
        assert.deepEqual(nics.map((n) => n.device), ['eth0', 'eth1', 'eth2', 'eth3']);
        for (const n of nics) assert.deepEqual(n, await target.expectedNic(0, n.device), n.device);
      } finally { await target.close(hosts); }
    });
  });

  for (const sc of SCENARIOS) {
    describe(`${target.name}: ${sc.name}`, () => {
      let hosts: TargetHost[] = [];
      let w: World;
      let skipped: string | undefined;
      before(async () => {
        skipped = (sc.needs ?? []).map((f) => lacks[f]).find((x) => x !== undefined);
        if (skipped) return;
        hosts = await target.open(sc.hosts);
        w = newWorld(sc.hosts);
      });
      after(async () => { if (hosts.length) await target.close(hosts); });
      sc.steps.forEach((step, k) => {
        test(`step ${k + 1}`, async (t) => {
          if (skipped) { t.skip(skipped); return; }
          step.change(w);
          for (const [i, h] of hosts.entries()) {
            const d = compileHost(w.b.records, w.hosts[i]!);
            assert.deepEqual(d.errors, {}, 'the records compile cleanly');
            const r = await reconcile(d, h.driver, h.guests);
            assert.deepEqual(r.errors, {}, `host ${i}: realised without errors`);
            assertHost(await h.driver.observe(), step.expect[i]!, `host ${i} (${HOST_UUIDS[i]})`);
          }
          for (const [i, h] of hosts.entries()) {
            const again = await reconcile(compileHost(w.b.records, w.hosts[i]!), h.driver, h.guests);
            assert.deepEqual([again.changes, again.writes], [[], 0], `host ${i}: a second pass changes nothing`);
          }
        });
      });
    });
  }
}
