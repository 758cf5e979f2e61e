// bench/sdn: a pool's cross-server private networks on xcpnet's mesh against OVN, at 4, 16 and
// 64 simulated hosts with K networks (every host on every network through its own tunnel, one
// running guest per host with a VIF on each network). Pure: the agents' compiler and the OVS
// planner on the in-memory switch, the master's northbound compiler and diff; no daemon runs.
//  - tunnel ports per host: the mesh's from the compiled document (one per network and peer);
//    OVN's is one per remote chassis, whatever K (what ovn-controller makes: derived here, seen
//    in the lab test, where a host of a four-chassis pool with two networks has three)
//  - rows written when one more host joins (its tunnels on every network, its guest started):
//    OVSDB rows the agents write on every host (from the planner's actions) and, for OVN, the
//    northbound operations the master writes, and what the southbound database gets, measured
//    with real ovsdb-servers and ovn-northd (bench/ovn-southbound.ts): ovn-northd's writes, and
//    the joiner's chassis registering and claiming its ports (as ovn-controller); only
//    ovn-controller's tunnel ports in each host's OVS are derived (2 rows each, one per peer)
//  - compile time of one change (a guest with one VIF started on host 1): every agent compiles
//    its host again; for OVN the master also computes its northbound pass
// Usage: npx tsc -p . && node dist/bench/sdn.js [--hosts 4,16,64] [--networks 10] [--rounds 5]
// (needs ovsdb-server, ovsdb-tool, ovn-northd and ovn-nbctl: Debian's openvswitch-switch and ovn-central)
import { compileHost } from '../src/agent/desired.js';
import { HostCompiler, indexPool } from '../src/agent/host-slice.js';
import { PoolBuilder } from '../src/agent/pool-builder.js';
import type { PoolRecords } from '../src/agent/records.js';
import { MemorySwitch } from '../src/backends/ovs/memory.js';
import type { Action } from '../src/backends/ovs/model.js';
import { planChanges } from '../src/backends/ovs/plan.js';
import { ovsRows } from '../src/backends/ovs/rows.js';
import { applyNbPlan as applyNbPlanInMemory } from '../src/sdn/nb-memory.js';
import { desiredNb, planNb } from '../src/sdn/ovn-nb.js';
import { median } from './support.js';
import { measureSouthboundJoin } from './ovn-southbound.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const SIZES = opt('--hosts', '4,16,64').split(',').map(Number);
const K = Number(opt('--networks', '10'));
const ROUNDS = Number(opt('--rounds', '5'));
const now = () => Number(process.hrtime.bigint()) / 1e6;

type Sdn = 'mesh' | 'ovn';

interface Pool { b: PoolBuilder; hosts: string[]; nets: string[]; transport: string }

function hostUuid(i: number): string { return `${(0x10000000 + i).toString(16)}-0000-4000-8000-000000000000`; }

function addHost(p: Pool, i: number): string {
  const { b } = p;
  const h = b.host(hostUuid(i), `host${i}`);
  p.hosts.push(h);
  const t = b.physical(h, 'eth1', p.transport, { mode: 'Static', IP: `10.${(i >> 8) & 255}.${i & 255}.1`, netmask: '255.0.0.0' });
  for (const n of p.nets) b.tunnel(h, t, n, 'vxlan');
  const vm = b.vm(h, 1);
  p.nets.forEach((n, j) => b.vif(vm, n, j, `02:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:00:${j.toString(16).padStart(2, '0')}`));
  return h;
}

function pool(n: number, sdn: Sdn): Pool {
  const b = new PoolBuilder();
  const transport = b.network('xenbr1', 1500);
  const nets = Array.from({ length: K }, (_, j) => b.network(`xapi${j + 10}`, 1400, { 'xcpnet-tunnel-key': String(j + 1) }));
  b.records.pool['OpaqueRef:pool'] = { other_config: sdn === 'ovn' ? { 'xcpnet-sdn': 'ovn', 'xcpnet-ovn-remote': 'tcp:10.0.0.254:6642' } : {} };
  const p: Pool = { b, hosts: [], nets, transport };
  for (let i = 0; i < n; i++) addHost(p, i);
  return p;
}

/** OVSDB rows an action writes: a bridge with its own port and interface, a port with its interfaces, an update one row. */
function rowsOf(a: Action): number {
  switch (a.kind) {
    case 'add-bridge': return 3;
    case 'add-port': return 1 + a.port.interfaces.length;
    case 'del-port': case 'del-bridge': case 'update-bridge': case 'update-port': case 'update-iface': return 1;
    default: return 0; // iproute2 (addresses, routes, links up): not OVSDB rows
  }
}

const tunnelPorts = (records: PoolRecords, host: string): number => compileHost(records, host).doc.bridges.reduce((s, b) => s + b.tunnels.length, 0);

/** Rows the agents write on every host when one more host joins; the switches start converged. */
async function joinRows(n: number, sdn: Sdn): Promise<{ agents: number; nb: number }> {
  const p = pool(n, sdn);
  const switches = new Map<string, MemorySwitch>();
  for (const h of p.hosts) {
    const sw = new MemorySwitch({ nics: 2, seed: h });
    await sw.apply(planChanges(ovsRows(compileHost(p.b.records, h).doc, ''), await sw.observe()));
    switches.set(h, sw);
  }
  const nbBefore = applyNbPlanInMemory({ switches: [], ports: [] }, planNb(desiredNb(p.b.records), { switches: [], ports: [] }).ops);
  const joiner = addHost(p, n);
  switches.set(joiner, new MemorySwitch({ nics: 2, seed: joiner }));
  let agents = 0;
  for (const h of p.hosts) {
    const sw = switches.get(h)!;
    agents += planChanges(ovsRows(compileHost(p.b.records, h).doc, ''), await sw.observe()).reduce((s, a) => s + rowsOf(a), 0);
  }
  const nb = sdn === 'ovn' ? planNb(desiredNb(p.b.records), nbBefore).ops.filter((o) => o.op !== 'comment').length : 0;
  return { agents, nb };
}

/** OVN's southbound writes when host n joins a pool of n, measured (see bench/ovn-southbound.ts). */
function southboundJoin(n: number) {
  const p = pool(n, 'ovn');
  const r = p.b.records;
  const hosts = () => p.hosts.map((h) => ({
    uuid: String(r.host[h]!.uuid),
    ip: String(Object.values(r.PIF).find((x) => x.host === h && x.device === 'eth1')!.IP),
    vifs: Object.values(r.VIF).filter((v) => r.VM[String(v.VM)]?.resident_on === h).map((v) => String(v.uuid)),
  }));
  return measureSouthboundJoin(r, hosts, () => { addHost(p, n); });
}

/** ms for one change: one agent's compile of its host (every agent makes one), and for OVN the master's northbound pass. */
function changeMs(n: number, sdn: Sdn): { agents: number; master: number; memoPool: number; memoCompiled: number } {
  const p = pool(n, sdn);
  // The agents as they run: each its own replica, compiling again only when its slice changed.
  const ix = indexPool(p.b.records);
  const compilers = p.hosts.map(() => new HostCompiler());
  p.hosts.forEach((h, i) => compilers[i]!.compile(ix, h));
  const memo: number[] = [];
  const compiled: number[] = [];
  const nb = sdn === 'ovn' ? applyNbPlanInMemory({ switches: [], ports: [] }, planNb(desiredNb(p.b.records), { switches: [], ports: [] }).ops) : undefined;
  const agents: number[] = [];
  const master: number[] = [];
  // Two rounds of warm-up (the JIT), not counted.
  for (let r = -2; r < ROUNDS; r++) {
    const vm = p.b.vm(p.hosts[0]!, 110 + r);
    const vif = p.b.vif(vm, p.nets[0]!, 0, `02:ff:00:00:00:${r.toString(16).padStart(2, '0')}`);
    // What the events bring: the VM, the VIF and the network (its VIFs), as new records.
    for (const [cls, ref] of [['VM', vm], ['VIF', vif], ['network', p.nets[0]!]] as const) ix.put(cls, ref, { ...p.b.records[cls][ref]! });
    const before = compilers.reduce((c, x) => c + x.compiles, 0);
    let t = now();
    p.hosts.forEach((h, i) => compilers[i]!.compile(ix, h));
    if (r >= 0) { memo.push(now() - t); compiled.push(compilers.reduce((c, x) => c + x.compiles, 0) - before); }
    t = now();
    for (const h of p.hosts) compileHost(p.b.records, h);
    if (r >= 0) agents.push((now() - t) / p.hosts.length);
    if (nb) {
      t = now();
      planNb(desiredNb(p.b.records), nb);
      if (r >= 0) master.push(now() - t);
    }
  }
  return { agents: median(agents), master: master.length ? median(master) : 0, memoPool: median(memo), memoCompiled: median(compiled) };
}

console.log(`bench/sdn: ${K} networks, every host on each; one guest per host with a VIF on each network; ${ROUNDS} rounds per timing`);
console.log('| hosts | tunnel ports per host, mesh / OVN | rows on a join: mesh agents / OVN agents + NB ops + SB by ovn-northd (transactions) + SB by the chassis (transactions) (+ OVS tunnel ports, derived) | one change, ms: mesh per agent (× hosts) / OVN per agent (× hosts) + master | OVN/mesh |');
const sbTables: string[] = [];
const memoLines: string[] = [];
for (const n of SIZES) {
  const mesh = pool(n, 'mesh');
  const meshPorts = tunnelPorts(mesh.b.records, mesh.hosts[0]!);
  const ovn = pool(n, 'ovn');
  // ovn-controller: one tunnel port to each other chassis, whatever K.
  const ovnPorts = ovn.hosts.length - 1;
  if (tunnelPorts(ovn.b.records, ovn.hosts[0]!) !== 0) throw new Error('an OVN pool has mesh ports');
  const jm = await joinRows(n, 'mesh');
  const jo = await joinRows(n, 'ovn');
  const sb = await southboundJoin(n);
  if (sb.nb.ops !== jo.nb) throw new Error(`the northbound pass wrote ${sb.nb.ops} operations to the real database, ${jo.nb} in memory`);
  // Derived: ovn-controller adds a tunnel port (Port + Interface) on each of the n others and n on the joiner.
  const ovsDerived = 2 * n + 2 * n;
  const ovnRows = jo.agents + jo.nb + sb.northd.rows + sb.chassis.rows + ovsDerived;
  const cm = changeMs(n, 'mesh');
  const co = changeMs(n, 'ovn');
  sbTables.push(`${n} hosts: ovn-northd ${JSON.stringify(sb.northd.tables)}, the chassis ${JSON.stringify(sb.chassis.tables)}`);
  memoLines.push(`| ${n} | ${(cm.agents * n).toFixed(1)} | ${cm.memoPool.toFixed(2)} (${cm.memoCompiled} of ${n} compiled) | ${(co.agents * n).toFixed(1)} | ${co.memoPool.toFixed(2)} (${co.memoCompiled} of ${n} compiled) |`);
  console.log(`| ${n} | ${meshPorts} / ${ovnPorts} | ${jm.agents} / ${jo.agents} + ${jo.nb} + ${sb.northd.rows} (${sb.northd.transactions}) + ${sb.chassis.rows} (${sb.chassis.transactions}) (+ ${ovsDerived}) | ${cm.agents.toFixed(2)} (${(cm.agents * n).toFixed(0)}) / ${co.agents.toFixed(2)} (${(co.agents * n).toFixed(0)}) + ${co.master.toFixed(2)} | ports ${(ovnPorts / meshPorts).toFixed(2)}, rows ${(ovnRows / jm.agents).toFixed(2)}, pool time ${((co.agents * n + co.master) / (cm.agents * n)).toFixed(2)} |`);
}
console.log(`southbound rows by table on a join: ${sbTables.join('; ')}`);
console.log('\nOne change, the pool\'s agents with their slice memo (host-slice.ts) against every agent compiling the whole pool, ms:');
console.log('| hosts | mesh: every agent compiles | mesh: with the memo | OVN: every agent compiles | OVN: with the memo |');
for (const l of memoLines) console.log(l);
