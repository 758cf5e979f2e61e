// `lab status`: the wiring as it really is (observed), next to what the lab recorded.
import { Ip, netns, type IpLink } from '../backends/linux/ip.js';
import { hasCarrier, isAdminUp } from './netns.js';
import { vsctlList } from './ovs.js';
import { isRecordedAlive, type LabState } from './state.js';
import { ipJson } from './sh.js';

export interface NicStatus {
  device: string;
  mac?: string;
  present: boolean;
  /** Cable as recorded by `lab cable`, and whether the switch end is really up. */
  cable: 'up' | 'down';
  switchPortUp: boolean;
  /** Carrier as the host sees it on its end. */
  carrier: boolean;
  switchPort: string;
}

export interface HostStatus {
  name: string;
  ns: string;
  present: boolean;
  uuid?: string;
  ovs: boolean;
  /** The host's network backend (a bridge host runs no OVS). */
  backend: 'openvswitch' | 'bridge';
  agent?: boolean;
  nics: NicStatus[];
}

export interface SwitchPortStatus {
  port: string;
  vlanMode: string;
  tag: number | null;
  trunks: number[];
  up: boolean;
}

export interface GuestStatus {
  ns: string;
  name?: string;
  host?: string;
  addresses: { device: string; addresses: string[] }[];
  /** Its plugged VIFs: the guest's device, the host's vifN.M, its bridge and network. */
  vifs?: { device: string; hostDevice: string; bridge: string; network: string }[];
}

export interface LabStatus {
  name: string;
  prefix: string;
  dir: string;
  status: 'building' | 'up' | 'absent';
  switch: { ns: string; present: boolean; ports: SwitchPortStatus[] };
  upstream: { ns: string; present: boolean; addresses: string[] };
  hosts: HostStatus[];
  guests: GuestStatus[];
  master?: { url: string; socket: string; running: boolean; viewUrl?: string };
}

async function safeLinks(ns: string, present: boolean): Promise<IpLink[]> {
  return present ? new Ip(ns).links().catch(() => []) : [];
}

interface AddrInfo { ifname: string; addr_info: { family: string; local: string; prefixlen: number; scope: string }[] }

export async function observeAddresses(ns: string): Promise<{ device: string; addresses: string[] }[]> {
  const list = await ipJson<AddrInfo>(ns, ['addr', 'show']).catch(() => []);
  return list.filter((a) => a.ifname !== 'lo').map((a) => ({
    device: a.ifname,
    addresses: a.addr_info.filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`),
  })).filter((a) => a.addresses.length > 0);
}

export async function observeStatus(state: LabState, guestPrefix: string): Promise<LabStatus> {
  const nss = new Set(await netns.list());
  const swNs = `${state.prefix}sw`;
  const upNs = `${state.prefix}up`;
  const swLinks = await safeLinks(swNs, nss.has(swNs));
  const swUp = (name: string): boolean => { const l = swLinks.find((x) => x.ifname === name); return !!l && isAdminUp(l); };

  let ports: SwitchPortStatus[] = [];
  const sock = state.switch?.ovs?.dbSocket;
  if (sock && nss.has(swNs)) {
    const rows = await vsctlList(sock, 'Port', ['name', 'vlan_mode', 'tag', 'trunks']).catch(() => []);
    ports = rows.filter((r) => r.name !== 'sw0').map((r) => ({
      port: String(r.name),
      vlanMode: Array.isArray(r.vlan_mode) ? 'trunk' : String(r.vlan_mode),
      tag: typeof r.tag === 'number' ? r.tag : null,
      trunks: Array.isArray(r.trunks) ? (r.trunks as number[]) : [r.trunks as number],
      up: swUp(String(r.name)),
    })).sort((a, b) => a.port.localeCompare(b.port, 'en', { numeric: true }));
  }

  const hosts: HostStatus[] = [];
  for (const h of state.hosts) {
    const present = nss.has(h.ns);
    const links = await safeLinks(h.ns, present);
    const procs = state.processes.filter((p) => p.what.startsWith(`${h.name} ovs`));
    hosts.push({
      name: h.name, ns: h.ns, present,
      ...(h.uuid ? { uuid: h.uuid } : {}),
      ovs: procs.length > 0 && procs.every(isRecordedAlive),
      backend: state.backend ?? 'openvswitch',
      // A host run as services (lab up --services): its serve and its agent apart, both alive.
      ...(h.agent ? { agent: isRecordedAlive(h.agent) && (!h.serviceAgent || isRecordedAlive(h.serviceAgent)) } : {}),
      nics: h.nics.map((n) => {
        const l = links.find((x) => x.ifname === n.device);
        return {
          device: n.device, present: !!l, cable: n.cable, switchPortUp: swUp(n.port),
          carrier: !!l && hasCarrier(l), switchPort: n.port, ...(l?.address ? { mac: l.address } : {}),
        };
      }),
    });
  }

  const guests: GuestStatus[] = [];
  for (const ns of [...nss].filter((n) => n.startsWith(guestPrefix)).sort()) {
    guests.push({ ns, addresses: await observeAddresses(ns) });
  }
  return {
    name: state.name, prefix: state.prefix, dir: state.dir, status: state.status,
    switch: { ns: swNs, present: nss.has(swNs), ports },
    upstream: { ns: upNs, present: nss.has(upNs), addresses: nss.has(upNs) ? (await observeAddresses(upNs)).flatMap((a) => a.addresses.map((x) => `${a.device} ${x}`)) : [] },
    hosts, guests,
    ...(state.master ? { master: { url: state.master.url, socket: state.master.socket, running: !!state.master.proc && isRecordedAlive(state.master.proc),
      ...(state.master.view && isRecordedAlive(state.master.view.proc) ? { viewUrl: `${state.master.view.url}/topology/` } : {}) } } : {}),
  };
}

export function formatStatus(s: LabStatus): string {
  const out: string[] = [];
  out.push(`lab ${s.name}: ${s.status} (prefix ${s.prefix}, dir ${s.dir})`);
  if (s.master) out.push(`master: ${s.master.running ? 'running' : 'NOT running'} at ${s.master.url} and unix:${s.master.socket}`);
  if (s.master?.viewUrl) out.push(`topology view: ${s.master.viewUrl} (a browser on this machine)`);
  out.push(`switch ${s.switch.ns}${s.switch.present ? '' : ' (MISSING)'}: bridge sw0, ${s.switch.ports.length} ports`);
  for (const p of s.switch.ports) {
    const trunks = p.trunks.length ? p.trunks.join(',') : 'all';
    out.push(`  ${p.port.padEnd(16)} ${p.up ? 'up  ' : 'DOWN'} vlan_mode=${p.vlanMode} native=${p.tag ?? '-'} trunks=${trunks}`);
  }
  out.push(`upstream ${s.upstream.ns}${s.upstream.present ? '' : ' (MISSING)'}: ${s.upstream.addresses.join(', ')}`);
  for (const h of s.hosts) {
    const flags = [h.present ? '' : 'MISSING', h.backend === 'bridge' ? 'bridge' : h.ovs ? 'ovs' : 'ovs DOWN', h.agent === undefined ? '' : h.agent ? 'agent' : 'agent DOWN']
      .filter(Boolean).join(', ');
    out.push(`${h.name} ${h.ns}${h.uuid ? ` uuid=${h.uuid}` : ''} [${flags}]`);
    for (const n of h.nics) {
      out.push(`  ${n.device.padEnd(6)} ${(n.mac ?? 'absent').padEnd(17)} cable ${n.cable === 'up' ? 'in    ' : 'PULLED'} ` +
        `carrier ${n.carrier ? 'yes' : 'no '} -> sw0 port ${n.switchPort}`);
    }
  }
  if (s.guests.length) {
    out.push('guests:');
    for (const g of s.guests) {
      const addrs = g.addresses.map((a) => `${a.device} ${a.addresses.join(' ')}`).join(', ') || 'no addresses';
      out.push(`  ${g.name ?? g.ns}${g.host ? ` on ${g.host}` : ''}: ${addrs}`);
      for (const v of g.vifs ?? []) out.push(`    ${v.device} = ${v.hostDevice} on bridge ${v.bridge} (network "${v.network}")`);
    }
  }
  return out.join('\n');
}
