// The lab's physical layer: switch, upstream, hosts and their cables, made real from the plan.
// Every step is "ensure": a second run over a complete lab finds everything in place.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { type LabPlan, type NicPlan, type SwitchPort, nicPlan, parseHostName, switchPortColumns, switchNs, SWITCH_BRIDGE } from './plan.js';
import { netns } from '../backends/linux/ip.js';
import { ensureNamespace, ensureVeth, setLinkUp, addAddress, findLink, keepKernelOffNic } from './netns.js';
import { startOvsInstance, vsctl, vsctlList, killProcesses, vswitchdAppctl } from './ovs.js';
import { ip, ipJson } from './sh.js';
import { ensureDhcpServer } from './dhcp-server.js';
import { isRecordedAlive, saveState, type LabState, type OvsState, type HostState, type NicState } from './state.js';

export type Progress = (line: string) => void;

const SWITCH_MTU = 9216;

export interface Ctx {
  plan: LabPlan;
  state: LabState;
  progress: Progress;
}

export function newLabState(plan: LabPlan, dir: string): LabState {
  return {
    version: 1, name: plan.name, prefix: plan.prefix, dir, status: 'building',
    nics: plan.hosts[0]?.nics.length ?? 0,
    hosts: plan.hosts.map((h) => ({
      name: h.name, ns: h.ns,
      nics: h.nics.map((n) => ({ device: n.device, port: n.cable.port, cable: 'up' as const })),
    })),
    namespaces: [], rootLinks: [], processes: [],
  };
}

async function ensureNs(ctx: Ctx, ns: string): Promise<void> {
  // Recorded before it is made: a crash in between still leaves it in the record.
  if (!ctx.state.namespaces.includes(ns)) {
    ctx.state.namespaces.push(ns);
    saveState(ctx.state);
  }
  await ensureNamespace(ns);
}

/** Reuses a recorded instance whose daemons are all alive; otherwise starts a fresh one. */
async function ensureOvs(ctx: Ctx, key: string, ns: string, current: OvsState | undefined): Promise<OvsState> {
  const mine = ctx.state.processes.filter((p) => p.what.startsWith(`${key} ovs`));
  if (current && mine.length === 2 && mine.every(isRecordedAlive) && existsSync(current.dbSocket.replace(/^unix:/, ''))) return current;
  await killProcesses(mine.filter(isRecordedAlive));
  const inst = await startOvsInstance(join(ctx.state.dir, 'ovs', key), ns, key);
  ctx.state.processes = ctx.state.processes.filter((p) => !mine.includes(p)).concat(inst.procs);
  saveState(ctx.state);
  return { dir: inst.dir, dbSocket: inst.dbSocket };
}

/** Adds a cable's switch end to sw0 as an 802.1Q trunk with native VLAN 1. */
async function ensureSwitchPort(ctx: Ctx, port: SwitchPort, fresh: boolean, cableUp: boolean): Promise<void> {
  const sock = ctx.state.switch!.ovs!.dbSocket;
  const br = ctx.plan.switch.bridge;
  // A re-made veth is a new device: OVS must open it again.
  const del = fresh ? ['--if-exists', 'del-port', br, port.port, '--'] : [];
  await vsctl(sock, [...del, '--may-exist', 'add-port', br, port.port, '--', 'set', 'port', port.port, ...switchPortColumns(port)]);
  // A physical switch takes jumbo frames: the MTU a host uses is the host's own choice.
  await ip(ctx.plan.switch.ns, ['link', 'set', port.port, 'mtu', String(SWITCH_MTU)]);
  await setLinkUp(port.peerNs, port.peerDevice, true);
  await setLinkUp(ctx.plan.switch.ns, port.port, cableUp);
}

async function ensureNic(ctx: Ctx, nic: NicPlan, cableUp: boolean): Promise<void> {
  const fresh = await ensureVeth(
    { ns: nic.cable.peerNs, name: nic.device, tmpName: nic.tmpName },
    { ns: ctx.plan.switch.ns, name: nic.cable.port });
  await ensureSwitchPort(ctx, nic.cable, fresh, cableUp);
  // A pool host on Open vSwitch gives its NICs to OVS alone, as the kernel datapath would.
  if (ctx.state.pool !== false && ctx.state.backend !== 'bridge') await keepKernelOffNic(nic.cable.peerNs, nic.device);
}

async function buildSwitch(ctx: Ctx): Promise<void> {
  const { plan, state } = ctx;
  await ensureNs(ctx, plan.switch.ns);
  state.switch = { ovs: await ensureOvs(ctx, 'switch', plan.switch.ns, state.switch?.ovs) };
  saveState(state);
  await vsctl(state.switch.ovs!.dbSocket, ['--may-exist', 'add-br', plan.switch.bridge,
    '--', 'set', 'bridge', plan.switch.bridge, 'datapath_type=netdev']);
  ctx.progress(`switch: namespace ${plan.switch.ns}, Open vSwitch bridge ${plan.switch.bridge} (userspace datapath)`);
}

/**
 * Upstream: a router-on-a-stick. Its own OVS bridge tags VLANs 10/20 on the trunk (the kernel
 * may lack 802.1Q sub-interfaces), with one internal port per subnet holding the gateway address.
 */
async function buildUpstream(ctx: Ctx): Promise<void> {
  const { plan, state } = ctx;
  const up = plan.upstream;
  await ensureNs(ctx, up.ns);
  state.upstream = { ovs: await ensureOvs(ctx, 'upstream', up.ns, state.upstream?.ovs) };
  saveState(state);
  const fresh = await ensureVeth({ ns: up.ns, name: up.uplink, tmpName: up.tmpName }, { ns: plan.switch.ns, name: up.cable.port });
  const sock = state.upstream.ovs!.dbSocket;
  const args = ['--may-exist', 'add-br', up.bridge, '--', 'set', 'bridge', up.bridge, 'datapath_type=netdev',
    '--', 'set', 'port', up.bridge, 'tag=1'];
  if (fresh) args.push('--', '--if-exists', 'del-port', up.bridge, up.uplink);
  args.push('--', '--may-exist', 'add-port', up.bridge, up.uplink, '--', 'set', 'port', up.uplink, ...switchPortColumns(up.cable));
  for (const i of up.ifaces.filter((f) => f.device !== up.bridge)) {
    args.push('--', '--may-exist', 'add-port', up.bridge, i.device, `tag=${i.vlan}`, '--', 'set', 'interface', i.device, 'type=internal');
  }
  await vsctl(sock, args);
  await ensureSwitchPort(ctx, up.cable, fresh, true);
  for (const i of up.ifaces) {
    await setLinkUp(up.ns, i.device, true);
    await addAddress(up.ns, i.device, `${i.address}/${i.prefixLen}`);
  }
  await ensureDhcpServer(state, up, ctx.progress);
  ctx.progress(`upstream: namespace ${up.ns}, trunk to ${plan.switch.bridge}; gateways ` +
    up.ifaces.map((i) => `${i.address} (VLAN ${i.vlan}${i.vlan === 1 ? ', native' : ''})`).join(', '));
}

async function buildHost(ctx: Ctx, index: number): Promise<void> {
  const { plan, state } = ctx;
  const hp = plan.hosts[index - 1]!;
  const hs = state.hosts.find((h) => h.name === hp.name)!;
  await ensureNs(ctx, hp.ns);
  // A host on the bridge backend has no Open vSwitch, as on XCP.
  if (state.backend !== 'bridge') hs.ovs = await ensureOvs(ctx, hp.name, hp.ns, hs.ovs);
  saveState(state);
  // NICs hot-added earlier are part of the host too.
  for (const n of hs.nics) {
    await ensureNic(ctx, nicPlan(plan.prefix, index, Number(n.device.slice(3))), n.cable !== 'down');
  }
  ctx.progress(`${hp.name}: namespace ${hp.ns}, ${state.backend === 'bridge' ? 'Linux bridge backend' : 'own Open vSwitch'}, NICs ${hs.nics.map((n) => n.device).join(' ')} cabled to ${plan.switch.bridge}`);
}

export async function buildTopology(ctx: Ctx): Promise<void> {
  await buildSwitch(ctx);
  await buildUpstream(ctx);
  // Hosts are independent of each other: build them side by side.
  await Promise.all(ctx.plan.hosts.map((h) => buildHost(ctx, h.index)));
}

/** True when every recorded namespace, process and cable of a lab is present. */
export async function isTopologyHealthy(state: LabState): Promise<boolean> {
  if (state.status !== 'up') return false;
  for (const ns of state.namespaces) if (!(await netns.exists(ns))) return false;
  if (!state.processes.every(isRecordedAlive)) return false;
  const swNs = `${state.prefix}sw`;
  for (const h of state.hosts) {
    for (const n of h.nics) if (!(await findLink(swNs, n.port))) return false;
  }
  return true;
}

export function findHost(state: LabState, name: string): HostState {
  const h = state.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${JSON.stringify(name)} in lab ${state.name} (hosts: ${state.hosts.map((x) => x.name).join(', ')})`);
  return h;
}

export function findNic(state: LabState, host: string, device: string): NicState {
  const h = findHost(state, host);
  const n = h.nics.find((x) => x.device === device);
  if (!n) throw new Error(`${host} has no NIC ${device} (NICs: ${h.nics.map((x) => x.device).join(', ')})`);
  return n;
}

/** Hot-adds the next NIC `eth<N>` to a host, cabled to the switch; returns its device name. */
export async function addNic(ctx: Ctx, host: string): Promise<string> {
  const hs = findHost(ctx.state, host);
  const index = parseHostName(hs.name)!;
  const next = hs.nics.reduce((m, n) => Math.max(m, Number(n.device.slice(3))), -1) + 1;
  const nic = nicPlan(ctx.plan.prefix, index, next);
  hs.nics.push({ device: nic.device, port: nic.cable.port, cable: 'up' });
  saveState(ctx.state);
  await ensureNic(ctx, nic, true);
  ctx.progress(`${host}: hot-added ${nic.device}, cabled to ${ctx.plan.switch.bridge} port ${nic.cable.port}`);
  return nic.device;
}

/**
 * The switch end of a cable goes up or down. On a pull the switch forgets the MACs it has
 * learned, as a hardware switch forgets those behind a port whose link went down: else frames
 * for a bond's MAC keep going to the dead port until the bond's learning packets are learned,
 * and the lab's Open vSwitch switch was seen to miss them for seconds, or for good while the
 * stale flow kept being used. (OVS can flush only a whole bridge; it relearns from the next frames.)
 */
export async function setSwitchEnd(state: LabState, port: string, up: boolean): Promise<void> {
  await setLinkUp(switchNs(state.prefix), port, up);
  const sw = state.switch?.ovs;
  if (!up && sw) await vswitchdAppctl(sw.dir, ['fdb/flush', SWITCH_BRIDGE]);
}

/** Plugs or pulls a cable: the switch end goes up/down, so the host sees carrier come or go. */
export async function setCable(ctx: Ctx, host: string, device: string, up: boolean): Promise<void> {
  const n = findNic(ctx.state, host, device);
  await setSwitchEnd(ctx.state, n.port, up);
  n.cable = up ? 'up' : 'down';
  saveState(ctx.state);
  ctx.progress(`${host} ${device}: cable ${up ? 'plugged in' : 'pulled'} (switch port ${n.port})`);
  const bond = up ? await bondOfNic(findHost(ctx.state, host), device).catch(() => undefined) : undefined;
  if (bond && bond.updelayMs > 0) {
    ctx.progress(`${host} ${device}: a member of bond ${bond.bond}: it carries traffic again only after the bond's updelay of ` +
      `${bond.updelayMs / 1000} s (ovs-appctl bond/show, or xe bond-param-list, shows when it is enabled)`);
  }
}

/** The bond a host NIC belongs to, with its updelay, as the host's switch has it (OVS or the Linux bonding driver). */
export async function bondOfNic(h: HostState, device: string): Promise<{ bond: string; updelayMs: number } | undefined> {
  if (h.ovs) {
    const ifaces = await vsctlList(h.ovs.dbSocket, 'Interface', ['_uuid', 'name']);
    const id = ifaces.find((i) => i.name === device)?._uuid;
    if (id === undefined) return undefined;
    const ports = await vsctlList(h.ovs.dbSocket, 'Port', ['name', 'interfaces', 'bond_updelay']);
    const port = ports.find((p) => ([] as unknown[]).concat(p.interfaces).includes(id) && ([] as unknown[]).concat(p.interfaces).length > 1);
    return port ? { bond: String(port.name), updelayMs: Number(port.bond_updelay) || 0 } : undefined;
  }
  interface Link { ifname: string; master?: string; linkinfo?: { info_kind?: string; info_data?: { updelay?: number } } }
  const [nic] = await ipJson<Link>(h.ns, ['-details', 'link', 'show', 'dev', device]);
  if (!nic?.master) return undefined;
  const [master] = await ipJson<Link>(h.ns, ['-details', 'link', 'show', 'dev', nic.master]);
  if (master?.linkinfo?.info_kind !== 'bond') return undefined;
  return { bond: master.ifname, updelayMs: master.linkinfo.info_data?.updelay ?? 0 };
}
