// bench/plug: plugging VIFs through the API (master + the real agent on a private Open vSwitch)
// against `ovs-vsctl add-port`, the way the original stack adds a guest port (xenopsd's
// setup-vif-rules: one ovs-vsctl transaction per VIF, with the four xs external-ids), on the
// same OVS in the same run. Targets: bulk (1,000 VIFs) ≥ 10× faster; one VIF.plug ≤ 2× one
// add-port. Needs root and Open vSwitch (userspace datapath).
//
// Two bulk comparisons, each like for like:
//  1. ports only — the guest devices `vif<domid>.<device>` exist before the clock starts (on
//     XCP the kernel's netback makes them; here the bench makes veths and a stand-in guest
//     driver adopts them). API: VM.start_on of VMS VMs × VIFS_PER_VM VIFs, concurrently, until
//     every call returned (= the agent reported them realised). Baseline: one `ovs-vsctl
//     add-port BR DEV -- set interface DEV external-ids:…` per device, sequentially.
//  2. with the guest interfaces — the lab's `netns` guest driver makes a namespace per VM and
//     a veth per VIF inside the timed window. Baseline: per VM `ip netns add`, per VIF
//     `ip link add vifD.N … peer eth N netns VM address MAC mtu 1500`, both ends up, and the
//     same `ovs-vsctl add-port`.
// The ports-only bulk case also against its physical limit: the same ports in one raw OVSDB transaction
// (target: the API ≤ 1.2× its time).
// Single: one VIF.plug of a running VM (the device exists) end to end, on a host holding LINKS
// other guest devices (veths `vif<100+k>.<n>`, peers elsewhere), vs one `ovs-vsctl add-port` of
// the same device on the same bridge, and vs the same port added by one raw OVSDB transaction
// (the agent's own operations for it, sent by a client of its own, with the same wait for
// ovs-vswitchd: next_cfg/cur_cfg); median of SINGLE each.
//
// Everything made here carries the prefix `xcpb-<pid>-` and is removed at the end; the OVS
// daemons are stopped by their pid.
// Usage: npx tsc -p . && node dist/bench/plug.js [--vms N] [--vifs-per-vm N] [--single N] [--links N] [--ports-only] [--single-only]
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAgent, type GuestDriver, type RunningAgent } from '../src/agent/index.js';
import type { GuestVif, GuestVm } from '../src/backends/contract.js';
import { openHostSide } from '../src/backends/open.js';
import type { OvsDriver } from '../src/backends/ovs/driver.js';
import { OvsdbClient, startOvs, type OvsInstance } from '../src/backends/ovsdb/index.js';
import { buildTxn } from '../src/backends/ovs/apply.js';
import { OWNER_KEY, type PortSpec } from '../src/backends/ovs/model.js';
import { XapiClient } from '../src/client/index.js';
import { RULES } from '../src/server/impl/index.js';
import { LoopbackClient } from '../src/server/loopback.js';
import { startMaster, type Master } from '../src/server/serve.js';
import { median } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const VMS = opt('--vms', 10);
const PER_VM = opt('--vifs-per-vm', 100);
const SINGLE = opt('--single', 20);
const LINKS = opt('--links', 1000);
const PORTS_ONLY = args.includes('--ports-only');
const SINGLE_ONLY = args.includes('--single-only');
const TOTAL = VMS * PER_VM;

const P = `xcpb-${process.pid}-`;
const HOST_NS = `${P}host`;
const DEV_NS = `${P}dev`; // peers of the pre-made devices
const execP = promisify(execFile);
const now = () => Number(process.hrtime.bigint()) / 1e6;

function ip(...a: string[]): void { execFileSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] }); }
/** Many iproute2 commands in one process (set-up and clean-up only, never timed). */
function ipBatch(ns: string, lines: string[]): void {
  const r = spawnSync('ip', ['-n', ns, '-force', '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`ip -batch: ${r.stderr}`);
}
const netnsList = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);

/**
 * The guest driver standing in for Xen's netback: the host-side devices already exist (made by
 * the bench before the clock starts), so starting a VM or plugging a VIF only records it. The
 * agent still does all its own work: compile, observe, plan, one OVSDB transaction, the
 * vswitchd barrier, the realisation check and the report.
 */
class PremadeGuests implements GuestDriver {
  private readonly vms = new Map<string, { domid: number; devices: Set<number> }>();
  keyOf(vmUuid: string): string { return vmUuid; }
  async startVm(vm: GuestVm, vifs: GuestVif[]): Promise<void> { this.vms.set(vm.uuid, { domid: vm.domid, devices: new Set(vifs.map((v) => v.device)) }); }
  async plugVif(vm: GuestVm, vif: GuestVif): Promise<void> {
    const g = this.vms.get(vm.uuid) ?? { domid: vm.domid, devices: new Set<number>() };
    g.devices.add(vif.device);
    this.vms.set(vm.uuid, g);
  }
  async unplugVif(key: string, vif: Pick<GuestVif, 'device'>): Promise<void> { this.vms.get(key)?.devices.delete(vif.device); }
  async stopVm(key: string): Promise<void> { this.vms.delete(key); }
  async list(): Promise<Map<string, { domid: number; devices: number[] }>> {
    return new Map([...this.vms].map(([k, v]) => [k, { domid: v.domid, devices: [...v.devices].sort((a, b) => a - b) }]));
  }
}

interface Bench {
  master: Master;
  c: XapiClient;
  ovs: OvsInstance;
  backend: OvsDriver;
  hostUuid: string;
  net: string;
  bridge: string;
}

/**
 * setup-vif-rules' attach: add-port with the four xs external-ids, one transaction, waits for vswitchd.
 * Run through the instance's vsctl: one ovs-vsctl process per call, awaited (the clock includes it).
 */
function addPortArgs(bridge: string, dev: string, ids: { vm: string; vif: string; net: string; mac: string }): string[] {
  return ['add-port', bridge, dev,
    '--', 'set', 'interface', dev, `external-ids:xs-vm-uuid=${ids.vm}`,
    '--', 'set', 'interface', dev, `external-ids:xs-vif-uuid=${ids.vif}`,
    '--', 'set', 'interface', dev, `external-ids:xs-network-uuid=${ids.net}`,
    '--', 'set', 'interface', dev, `external-ids:attached-mac=${ids.mac}`];
}
/** A guest port as the agent writes it (owner tag, the four xs external ids), for the raw baselines. */
function rawPort(bridge: string, dev: string, hostUuid: string, ids: Record<string, string>, owner = dev): PortSpec {
  return {
    name: dev, bridge, owner, role: 'vif', tag: null, fake_bridge: false, protected: false, bond_mode: null, lacp: null,
    bond_updelay: 0, bond_downdelay: 0, mac: null, other_config: {}, external_ids: { [OWNER_KEY]: hostUuid },
    interfaces: [{ name: dev, type: '', options: {}, mtu_request: 1500, mac: null, external_ids: { ...ids, [OWNER_KEY]: hostUuid }, other_config: {} }],
  };
}
const fakeUuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const macOf = (d: number, n: number) => `02:b0:00:${(d & 255).toString(16).padStart(2, '0')}:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;

async function startAgent(b: Bench, guests: GuestDriver): Promise<RunningAgent> {
  const agent = await runAgent({ client: LoopbackClient.open(b.master.server, 'bench-agent'), hostRef: b.master.host, backend: b.backend, guests, log: () => {} });
  await b.master.server.hub.wait(b.master.host, [], 0);
  return agent;
}

async function portsOn(b: Bench, bridge: string): Promise<string[]> {
  return (await b.ovs.vsctl('list-ports', bridge)).split('\n').filter(Boolean);
}

/** VMS halted VMs with PER_VM VIFs each on the bench network. */
async function makeVms(b: Bench, tag: string): Promise<string[]> {
  const vms: string[] = [];
  for (let k = 0; k < VMS; k++) {
    const vm = await b.c.call<string>('VM.create', { name_label: `${tag}-${k}` });
    for (let n = 0; n < PER_VM; n++) {
      await b.c.call('VIF.create', { VM: vm, network: b.net, device: String(n), MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
    }
    vms.push(vm);
  }
  return vms;
}

/** The API bulk path: every VM started at once; ms until every call has returned. */
async function apiBulk(b: Bench, vms: string[]): Promise<number> {
  const t0 = now();
  await Promise.all(vms.map((vm) => b.c.call('VM.start_on', vm, b.master.host, false, false)));
  const ms = now() - t0;
  const ports = (await portsOn(b, b.bridge)).filter((p) => /^vif\d+\.\d+$/.test(p));
  if (ports.length !== TOTAL) throw new Error(`API bulk: ${ports.length} VIF ports on ${b.bridge}, expected ${TOTAL}`);
  const attached = Object.values(await b.c.call<Record<string, { currently_attached: boolean }>>('VIF.get_all_records')).filter((v) => v.currently_attached).length;
  if (attached !== TOTAL) throw new Error(`API bulk: ${attached} VIFs attached, expected ${TOTAL}`);
  return ms;
}

async function haltAll(b: Bench, vms: string[]): Promise<number> {
  const t0 = now();
  await Promise.all(vms.map((vm) => b.c.call('VM.hard_shutdown', vm)));
  return now() - t0;
}

/** Baseline bridge, as the agent makes its own (userspace datapath), with no agent running. */
async function baselineBridge(b: Bench, name: string): Promise<void> {
  await b.ovs.vsctl('add-br', name, '--', 'set', 'bridge', name, 'datapath_type=netdev');
}

/**
 * Removes a baseline bridge. ovs-vswitchd can take longer than the instance's 10 s command bound to
 * remove 1,000 ports on this machine, so the removal is committed without waiting, then waited
 * for through OVSDB (cur_cfg), with a bound of its own.
 */
async function delBaselineBridge(b: Bench, name: string): Promise<void> {
  await b.ovs.vsctl('--no-wait', 'del-br', name);
  const c = await OvsdbClient.connect(b.ovs.dbSocket);
  try { await c.transactAndWait([], 300_000); } finally { c.close(); }
}

const domids = () => Array.from({ length: VMS }, (_, k) => k + 1);

async function main(): Promise<void> {
  const made: { dirs: string[]; master?: Master; ovs?: OvsInstance; backend?: OvsDriver; agent?: RunningAgent; c?: XapiClient } = { dirs: [] };
  const rows: { what: string; api: number; base: number; target: string; ok: (r: number) => boolean }[] = [];
  const info: string[] = [];
  try {
    ip('netns', 'add', HOST_NS);
    ip('netns', 'add', DEV_NS);
    ip('-n', HOST_NS, 'link', 'set', 'lo', 'up');
    const ovsDir = mkdtempSync(`/tmp/${P}`);
    made.dirs.push(ovsDir);
    const ovs = made.ovs = await startOvs({ dir: ovsDir, netns: HOST_NS, vswitchd: true });
    const stateDir = mkdtempSync(join(tmpdir(), `${P}state-`));
    made.dirs.push(stateDir);
    const master = made.master = await startMaster({ stateDir, listen: null, rootPassword: 'pw', impls: RULES, log: () => {} });
    master.server.hub.timeoutMs = 600_000; // the slow baselines-in-kind (netns guests) must not time out
    const hostUuid = master.server.store.get('host', master.host).uuid as string;
    const side = await openHostSide({ hostUuid, ovsdb: ovs.dbSocket, netns: HOST_NS, guestPrefix: P });
    const backend = made.backend = side.backend as OvsDriver;
    const c = made.c = await XapiClient.connect({ target: `unix:${master.socketPath}`, user: 'root', password: 'pw' });
    const net = await c.call<string>('network.create', { name_label: 'bench', MTU: 1500, other_config: {} });
    const b: Bench = { master, c, ovs, backend, hostUuid, net, bridge: await c.call<string>('network.get_bridge', net) };
    const netUuid = await c.call<string>('network.get_uuid', net);
    console.log(`bench/plug: ${TOTAL} VIFs (${VMS} VMs × ${PER_VM}), private OVS (datapath ${backend.sw.datapathType || 'system'}) in ${HOST_NS}`);

    // ---- single: one VIF.plug vs one add-port on a host with LINKS other links; the device exists ----
    const others = Array.from({ length: LINKS }, (_, k) => ({ dev: `vif${100 + Math.floor(k / 100)}.${k % 100}`, peer: `o${k}` }));
    if (others.length) ipBatch(HOST_NS, others.map((o) => `link add ${o.dev} mtu 1500 type veth peer name ${o.peer} netns ${DEV_NS}`));
    ipBatch(HOST_NS, ['link add vif1.0 mtu 1500 type veth peer name g1.0 netns ' + DEV_NS, 'link add vif1.1 mtu 1500 type veth peer name g1.1 netns ' + DEV_NS,
      'link set vif1.0 up', 'link set vif1.1 up']);
    const hostLinks = execFileSync('ip', ['-n', HOST_NS, '-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
    let agent = made.agent = await startAgent(b, new PremadeGuests());
    const single = await c.call<string>('VM.create', { name_label: 'single' });
    await c.call('VIF.create', { VM: single, network: net, device: '0', MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
    await c.call('VM.start_on', single, master.host, false, false);
    const domid = await c.call<number>('VM.get_domid', single);
    if (domid !== 1) throw new Error(`single VM got domid ${domid}, expected 1`);
    const vif = await c.call<string>('VIF.create', { VM: single, network: net, device: '1', MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
    const dev = 'vif1.1';
    const apiOne: number[] = [];
    let t0: number;
    for (let i = 0; i < SINGLE + 2; i++) {
      await agent.reconcileNow();
      await sleep(50);
      t0 = now();
      await c.call('VIF.plug', vif);
      if (i >= 2) apiOne.push(now() - t0); // two warm-up rounds
      if (!(await portsOn(b, b.bridge)).includes(dev)) throw new Error(`VIF.plug: ${dev} is not on ${b.bridge}`);
      await c.call('VIF.unplug', vif);
    }
    await agent.stop(); // the baseline runs with no agent reacting to its changes
    const vifUuid = await c.call<string>('VIF.get_uuid', vif);
    const vmUuid = await c.call<string>('VM.get_uuid', single);
    const mac = await c.call<string>('VIF.get_MAC', vif);
    const baseOne: number[] = [];
    for (let i = 0; i < SINGLE + 2; i++) {
      await sleep(50);
      t0 = now();
      await ovs.vsctl(...addPortArgs(b.bridge, dev, { vm: vmUuid, vif: vifUuid, net: netUuid, mac }));
      if (i >= 2) baseOne.push(now() - t0);
      await ovs.vsctl('del-port', b.bridge, dev);
    }
    // The same port by one raw OVSDB transaction: the agent's operations for it, our own client.
    const raw = await OvsdbClient.connect(ovs.dbSocket);
    const rawOne: number[] = [];
    try {
      const ids = { 'xs-vm-uuid': vmUuid, 'xs-vif-uuid': vifUuid, 'xs-network-uuid': netUuid, 'attached-mac': mac };
      const txn = buildTxn([{ kind: 'add-port', port: rawPort(b.bridge, dev, hostUuid, ids, vif) }], 'bench-raw');
      for (let i = 0; i < SINGLE + 2; i++) {
        await sleep(50);
        t0 = now();
        await raw.transactAndWait(txn.ops, 15000);
        if (i >= 2) rawOne.push(now() - t0);
        await ovs.vsctl('del-port', b.bridge, dev);
      }
    } finally { raw.close(); }
    const spread = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
    info.push(`single, on a host with ${hostLinks} links: VIF.plug ${spread(apiOne)} ms, ovs-vsctl ${spread(baseOne)} ms, raw OVSDB transaction ${spread(rawOne)} ms (median (min–max))`);
    rows.push({ what: 'single: one VIF.plug vs one add-port', api: median(apiOne), base: median(baseOne), target: '<= 2x slower', ok: (r) => r >= 0.5 });
    rows.push({ what: 'single: one VIF.plug vs one OVSDB txn', api: median(apiOne), base: median(rawOne), target: '<= 2x slower', ok: (r) => r >= 0.5 });
    agent = made.agent = await startAgent(b, new PremadeGuests()); // a fresh driver: it adopts the running VM's device
    await c.call('VM.hard_shutdown', single);
    await agent.stop();
    made.agent = undefined;
    if (others.length) ipBatch(HOST_NS, others.map((o) => `link del ${o.dev}`));

    // ---- 1. ports only: devices made before the clock starts ----
    if (!SINGLE_ONLY) {
      const devices = domids().flatMap((d) => Array.from({ length: PER_VM }, (_, n) => ({ d, n, dev: `vif${d}.${n}` })));
      const fresh = devices.filter(({ dev: x }) => x !== 'vif1.0' && x !== 'vif1.1');
      ipBatch(HOST_NS, fresh.map(({ d, n, dev: x }) => `link add ${x} mtu 1500 type veth peer name g${d}.${n} netns ${DEV_NS}`));
      ipBatch(HOST_NS, fresh.map(({ dev: x }) => `link set ${x} up`));

      await baselineBridge(b, 'xcpbb');
      t0 = now();
      for (const [i, { d, n, dev: x }] of devices.entries()) {
        await ovs.vsctl(...addPortArgs('xcpbb', x, { vm: fakeUuid(d), vif: fakeUuid(1000 + i), net: netUuid, mac: macOf(d, n) }));
      }
      const baseBulk = now() - t0;
      if ((await portsOn(b, 'xcpbb')).length !== TOTAL) throw new Error('baseline: ports missing');
      await delBaselineBridge(b, 'xcpbb');
      process.stdout.write(`  ports only: baseline ${(baseBulk / 1000).toFixed(1)} s`);

      // The physical limit: the same ports, with the same external ids, in ONE raw OVSDB
      // transaction (the agent's own operations for them), waiting for ovs-vswitchd likewise.
      await baselineBridge(b, 'xcpbb');
      const rawBulkTxn = buildTxn(devices.map(({ d, n, dev: x }, i) => ({
        kind: 'add-port' as const,
        port: rawPort('xcpbb', x, hostUuid, { 'xs-vm-uuid': fakeUuid(d), 'xs-vif-uuid': fakeUuid(1000 + i), 'xs-network-uuid': netUuid, 'attached-mac': macOf(d, n) }),
      })), 'bench-raw-bulk');
      const rawBulkClient = await OvsdbClient.connect(ovs.dbSocket);
      let rawBulk: number;
      try {
        t0 = now();
        await rawBulkClient.transactAndWait(rawBulkTxn.ops, 120_000);
        rawBulk = now() - t0;
      } finally { rawBulkClient.close(); }
      if ((await portsOn(b, 'xcpbb')).length !== TOTAL) throw new Error('raw bulk baseline: ports missing');
      await delBaselineBridge(b, 'xcpbb');
      process.stdout.write(`, one raw OVSDB transaction ${(rawBulk / 1000).toFixed(2)} s`);

      agent = made.agent = await startAgent(b, new PremadeGuests());
      let vms = await makeVms(b, 'bulk');
      const apiMs = await apiBulk(b, vms);
      console.log(`, API ${(apiMs / 1000).toFixed(2)} s`);
      rows.unshift({ what: `bulk, ports only: ${TOTAL} VIFs`, api: apiMs, base: baseBulk, target: '>= 10x faster', ok: (r) => r >= 10 });
      rows.splice(1, 0, { what: `bulk vs one OVSDB txn: ${TOTAL} VIFs`, api: apiMs, base: rawBulk, target: '<= 1.2x slower', ok: (r) => r >= 1 / 1.2 });
      info.push(`unplug of the ${TOTAL} (VM.hard_shutdown ×${VMS}, concurrent): ${(await haltAll(b, vms) / 1000).toFixed(2)} s`);
      await agent.stop();
      made.agent = undefined;
      ipBatch(HOST_NS, devices.map(({ dev: x }) => `link del ${x}`));

      // ---- 2. with the guest interfaces (the lab's netns driver) ----
      if (!PORTS_ONLY) {
        await baselineBridge(b, 'xcpbb');
        const baseNs = domids().map((d) => `${P}bvm${d}`);
        t0 = now();
        for (const [k, d] of domids().entries()) {
          const ns = baseNs[k]!;
          await execP('ip', ['netns', 'add', ns]);
          for (let n = 0; n < PER_VM; n++) {
            const host = `vif${d}.${n}`, inside = `eth${n}`, m = macOf(d, n);
            await execP('ip', ['-n', HOST_NS, 'link', 'add', host, 'type', 'veth', 'peer', 'name', inside, 'netns', ns, 'address', m, 'mtu', '1500']);
            await execP('ip', ['-n', ns, 'link', 'set', 'dev', inside, 'up']);
            await execP('ip', ['-n', HOST_NS, 'link', 'set', 'dev', host, 'up']);
            await ovs.vsctl(...addPortArgs('xcpbb', host, { vm: fakeUuid(d), vif: fakeUuid(5000 + n), net: netUuid, mac: m }));
          }
        }
        const baseNsMs = now() - t0;
        if ((await portsOn(b, 'xcpbb')).length !== TOTAL) throw new Error('baseline (netns): ports missing');
        await delBaselineBridge(b, 'xcpbb');
        for (const ns of baseNs) ip('netns', 'del', ns);
        process.stdout.write(`  with guest interfaces: baseline ${(baseNsMs / 1000).toFixed(1)} s`);

        agent = made.agent = await startAgent(b, side.guests);
        vms = await makeVms(b, 'netns');
        const apiNs = await apiBulk(b, vms);
        console.log(`, API ${(apiNs / 1000).toFixed(2)} s`);
        rows.push({ what: `bulk, netns guests: ${TOTAL} VIFs + veths`, api: apiNs, base: baseNsMs, target: '(none; informative)', ok: () => true });
        info.push(`netns guests stopped (VM.hard_shutdown ×${VMS}): ${(await haltAll(b, vms) / 1000).toFixed(2)} s`);
        await agent.stop();
        made.agent = undefined;
      }
    }

    console.log('');
    console.log('case                                        API (ms)    baseline (ms)   speed-up   target');
    for (const r of rows) {
      const ratio = r.base / r.api;
      const shown = r.what.startsWith('single') || r.what.includes('OVSDB txn') ? `${(r.api / r.base).toFixed(2)}x time` : `${ratio.toFixed(1)}x`;
      console.log(`${r.what.padEnd(42)}${r.api.toFixed(1).padStart(10)}${r.base.toFixed(1).padStart(17)}${shown.padStart(11)}   ${r.target} ${r.ok(ratio) ? 'met' : 'MISSED'}`);
    }
    for (const l of info) console.log(`  ${l}`);
    console.log(`  single: API ${apiOne.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`  single: vsctl ${baseOne.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`  single: raw OVSDB ${rawOne.map((x) => x.toFixed(0)).join(' ')}`);
  } finally {
    try { await made.agent?.stop(); } catch { /* cleanup goes on */ }
    try { await made.c?.close(); } catch { /* cleanup goes on */ }
    try { await made.master?.close(); } catch { /* cleanup goes on */ }
    try { await made.backend?.close(); } catch { /* cleanup goes on */ }
    try { await made.ovs?.stop(); } catch { /* cleanup goes on */ }
    for (const ns of netnsList()) if (ns.startsWith(P)) { try { ip('netns', 'del', ns); } catch { /* gone */ } }
    for (const d of made.dirs) rmSync(d, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
