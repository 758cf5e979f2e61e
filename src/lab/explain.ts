// `xcpnet explain A B`, the pure core: facts in (records and what the hosts really have) →
// whether A reaches B at layer 2, and otherwise every reason found, each naming the object and
// the command that fixes it. facts.ts gathers the facts.
import { ENCAP_OVERHEAD, encapOf, tunnelMtuFit, type Encap } from '../common/encap.js';
import { type Facts, type Rec, effectiveLocking, hostName, isRef, nicsUnder, pifOn, str } from './topology-model.js';

export type ReasonCode =
  | 'different-networks' | 'private-pinned' | 'network-absent' | 'pif-unplugged' | 'vlan-not-carried'
  | 'bond-down' | 'cable-down' | 'tunnel-missing' | 'tunnel-inactive' | 'mtu-too-large' | 'guest-mtu-too-large'
  | 'vif-locking' | 'vm-halted' | 'vif-unplugged';

export interface Reason { code: ReasonCode; object: string; message: string; fix: string }
export interface Explanation { a: string; b: string; reachable: boolean; network?: string; reasons: Reason[] }

/**
 * What a tunnel of one host carries: its transport's MTU minus what the encapsulation adds (the
 * pool's: on OVN a gre tunnel is Geneve).
 */
function tunnelCarries(f: Facts, t: Rec): { carries: number; settable: number; transportMtu: number; encap: Encap } | undefined {
  const transport = f.records.PIF[str(t.transport_PIF)];
  if (!transport) return undefined;
  const sdn = Object.values(f.records.pool ?? {}).some((p) => str((p.other_config as Rec | undefined)?.['xcpnet-sdn']) === 'ovn') ? 'ovn' : 'mesh';
  const encap = encapOf(str(t.protocol) || 'gre', sdn);
  const transportMtu = Number(transport.MTU) > 0 ? Number(transport.MTU) : 1500;
  // What network.set_MTU accepts: a gre tunnel counts Geneve's overhead even on the mesh.
  const settable = Math.min(tunnelMtuFit(transportMtu, encap), tunnelMtuFit(transportMtu, encapOf(str(t.protocol) || 'gre', 'ovn')));
  return { carries: tunnelMtuFit(transportMtu, encap), settable, transportMtu, encap };
}

export class EndpointError extends Error {}

/** A VM (name-label or uuid) or a VIF (uuid) → the VIFs to consider. */
export function resolveEndpoint(f: Facts, token: string): { label: string; vifs: string[] } {
  const vifHit = Object.entries(f.records.VIF).find(([, v]) => v.uuid === token);
  if (vifHit) {
    const vm = f.records.VM[str(vifHit[1].VM)];
    return { label: `VIF ${token} (VM "${str(vm?.name_label)}" eth${str(vifHit[1].device)})`, vifs: [vifHit[0]] };
  }
  const vms = Object.entries(f.records.VM).filter(([, v]) => v.is_control_domain !== true && (v.uuid === token || v.name_label === token));
  if (vms.length > 1) throw new EndpointError(`${vms.length} VMs are named "${token}": give a uuid (xe vm-list name-label=${token} params=uuid)`);
  const [hit] = vms;
  if (!hit) {
    const names = Object.values(f.records.VM).filter((v) => v.is_control_domain !== true).map((v) => str(v.name_label)).sort();
    throw new EndpointError(`no VM or VIF "${token}"${names.length ? `; VMs: ${names.join(', ')}` : '; there are no VMs (xe vm-create name-label=…)'}`);
  }
  const vifs = Object.entries(f.records.VIF).filter(([, v]) => v.VM === hit[0]).map(([r]) => r)
    .sort((x, y) => Number(f.records.VIF[x]!.device) - Number(f.records.VIF[y]!.device));
  if (vifs.length === 0) throw new EndpointError(`VM "${str(hit[1].name_label)}" has no VIF: xe vif-create vm-uuid=${str(hit[1].uuid)} network-uuid=… device=0`);
  return { label: `VM "${str(hit[1].name_label)}"`, vifs };
}

const vmOf = (f: Facts, vif: string): [string, Rec] => [str(f.records.VIF[vif]?.VM), f.records.VM[str(f.records.VIF[vif]?.VM)] ?? {}];
const vmName = (f: Facts, vif: string): string => str(vmOf(f, vif)[1].name_label);
const netName = (f: Facts, net: string): string => `network "${str(f.records.network[net]?.name_label)}" (${str(f.records.network[net]?.uuid)})`;
const running = (vm: Rec): boolean => vm.power_state === 'Running' || vm.power_state === 'Paused';

function ipv4InCidr(ip: string, cidr: string): boolean {
  const [net, bits = '32'] = cidr.split('/');
  const num = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const n = Number(bits);
  if (!net || !/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !/^\d+\.\d+\.\d+\.\d+$/.test(net) || !(n >= 0 && n <= 32)) return false;
  const mask = n === 0 ? 0 : 2 ** 32 - 2 ** (32 - n);
  return (num(ip) & mask) >>> 0 === (num(net) & mask) >>> 0;
}

/** What one end contributes: its VM's state, its VIF's plug and locking. */
function endReasons(f: Facts, vif: string, pinnedTo: string | undefined): Reason[] {
  const out: Reason[] = [];
  const v = f.records.VIF[vif]!;
  const [, vm] = vmOf(f, vif);
  const name = str(vm.name_label);
  if (!running(vm)) {
    out.push({ code: 'vm-halted', object: `VM "${name}" ${str(vm.uuid)}`, message: `VM "${name}" is ${str(vm.power_state)}: it has no interfaces`,
      fix: `xe vm-start uuid=${str(vm.uuid)}${pinnedTo ? ` on=${pinnedTo}` : ''}` });
    return out;
  }
  if (v.currently_attached !== true) {
    out.push({ code: 'vif-unplugged', object: `VIF ${str(v.uuid)}`, message: `VIF eth${str(v.device)} of VM "${name}" is unplugged`, fix: `xe vif-plug uuid=${str(v.uuid)}` });
  }
  const locking = effectiveLocking(f, vif);
  if (locking === 'disabled') {
    out.push({ code: 'vif-locking', object: `VIF ${str(v.uuid)}`, message: `VIF eth${str(v.device)} of VM "${name}" has locking mode disabled: every frame is dropped`,
      fix: `xe vif-param-set uuid=${str(v.uuid)} locking-mode=unlocked` });
  } else if (locking === 'locked') {
    const seen = f.guests?.[str(vm.uuid)]?.find((g) => g.device === str(v.device));
    if (seen && seen.mac && seen.mac.toLowerCase() !== str(v.MAC).toLowerCase()) {
      out.push({ code: 'vif-locking', object: `VIF ${str(v.uuid)}`, message: `VIF eth${str(v.device)} of VM "${name}" is locked to MAC ${str(v.MAC)}, but the guest sends from ${seen.mac}`,
        fix: `xcpnet lab exec ${name} -- ip link set eth${str(v.device)} address ${str(v.MAC)}` });
    }
    const allowed = (Array.isArray(v.ipv4_allowed) ? v.ipv4_allowed : []).map(str);
    for (const ip of seen?.ipv4 ?? []) {
      if (!allowed.some((a) => ipv4InCidr(ip, a))) {
        out.push({ code: 'vif-locking', object: `VIF ${str(v.uuid)}`,
          message: `VIF eth${str(v.device)} of VM "${name}" is locked and ${ip} is not among its allowed addresses (${allowed.join(', ') || 'none'})`,
          fix: `xe vif-param-add uuid=${str(v.uuid)} param-name=ipv4-allowed param-key=${ip}` });
      }
    }
  }
  return out;
}

/** Why the network does not carry frames between two hosts (or is not on one of them). */
function pathReasons(f: Facts, net: string, hosts: string[]): Reason[] {
  const out: Reason[] = [];
  const r = f.records;
  const pifs = Object.entries(r.PIF).filter(([, p]) => p.network === net);
  const tunnels = Object.values(r.tunnel).filter((t) => pifs.some(([ref]) => ref === t.access_PIF));
  const isTunnel = tunnels.length > 0;
  const crossHost = new Set(hosts).size > 1;
  for (const h of new Set(hosts)) {
    const hn = hostName(f, h);
    const pif = pifOn(f, net, h);
    if (!pif) {
      if (isTunnel) {
        const sample = r.PIF[str(tunnels[0]!.transport_PIF)];
        const transport = Object.entries(r.PIF).find(([, p]) => p.host === h && p.device === sample?.device && Number(p.VLAN) === Number(sample?.VLAN));
        out.push({ code: 'tunnel-missing', object: `host ${hn}`, message: `${netName(f, net)} is a cross-host private network with no tunnel on ${hn}`,
          fix: `xe tunnel-create pif-uuid=${transport ? str(transport[1].uuid) : `<a PIF of ${hn} with an IP>`} network-uuid=${str(r.network[net]?.uuid)} protocol=${str(tunnels[0]!.protocol) || 'gre'}` });
      } else {
        const vlanPif = pifs.find(([, p]) => isRef(p.VLAN_master_of));
        const vlan = vlanPif && r.VLAN[str(vlanPif[1].VLAN_master_of)];
        const parentDev = vlan && str(r.PIF[str(vlan.tagged_PIF)]?.device);
        const parent = parentDev && Object.entries(r.PIF).find(([, p]) => p.host === h && p.device === parentDev && Number(p.VLAN) === -1);
        out.push({ code: 'network-absent', object: `host ${hn}`, message: `${netName(f, net)} has no PIF on ${hn}${vlan ? ` (it is VLAN ${str(vlan.tag)} on ${parentDev} elsewhere)` : ''}`,
          fix: vlan ? `xe vlan-create pif-uuid=${parent ? str(parent[1].uuid) : `<${hn}'s ${parentDev}>`} vlan=${str(vlan.tag)} network-uuid=${str(r.network[net]?.uuid)}`
            : `xe pif-list host-name-label=${hn} (then xe vif-move the VIF to a network ${hn} has)` });
      }
      continue;
    }
    const [pifRef, p] = pif;
    if (p.currently_attached !== true) {
      out.push({ code: 'pif-unplugged', object: `PIF ${str(p.device)} of ${hn}`, message: `the PIF of ${netName(f, net)} on ${hn} is unplugged: no bridge there`, fix: `xe pif-plug uuid=${str(p.uuid)}` });
    }
    if (!crossHost) continue;
    if (isTunnel) {
      const t = tunnels.find((x) => x.access_PIF === pifRef);
      const transport = t && r.PIF[str(t.transport_PIF)];
      if (t && str((t.status as Rec | undefined)?.active) !== 'true') {
        out.push({ code: 'tunnel-inactive', object: `tunnel ${str(t.uuid)} on ${hn}`,
          message: `the tunnel of ${netName(f, net)} on ${hn} is not active${transport && !str(transport.IP) ? `: its transport PIF ${str(transport.device)} has no IP` : ''}`,
          fix: transport && !str(transport.IP) ? `xe pif-reconfigure-ip uuid=${str(transport.uuid)} mode=static IP=<address> netmask=<mask>` : `xe pif-plug uuid=${str(transport?.uuid)}` });
      }
      const mtu = Number(r.network[net]?.MTU ?? 1500);
      const fit = t && tunnelCarries(f, t);
      if (transport && fit && mtu > fit.carries) {
        out.push({ code: 'mtu-too-large', object: netName(f, net),
          message: `${netName(f, net)} has MTU ${mtu}, but ${str(t?.protocol)} (${fit.encap}, ${ENCAP_OVERHEAD[fit.encap]} bytes) over ${str(transport.device)} of ${hn} (MTU ${fit.transportMtu}) carries at most ${fit.carries}: larger frames are lost`,
          fix: `xe network-param-set uuid=${str(r.network[net]?.uuid)} MTU=${fit.settable}` });
      }
      const obsBridge = f.observed?.[hn]?.ovs?.find((b) => b.name === str(r.network[net]?.bridge));
      if (obsBridge && t && str((t.status as Rec | undefined)?.active) === 'true') {
        for (const other of new Set(hosts)) {
          if (other === h) continue;
          const ot = tunnels.find((x) => r.PIF[str(x.access_PIF)]?.host === other);
          const remoteIp = ot && str(r.PIF[str(ot.transport_PIF)]?.IP);
          if (remoteIp && !obsBridge.ports.some((port) => port.interfaces.some((i) => i.remote === remoteIp))) {
            out.push({ code: 'tunnel-missing', object: `bridge ${obsBridge.name} of ${hn}`, message: `${hn} has no tunnel port to ${remoteIp} (${hostName(f, other)}) on ${obsBridge.name}`,
              fix: `xcpnet lab restart-agent ${hn} (the agent remakes what the master's mesh wants)` });
          }
        }
      }
      continue;
    }
    const under = nicsUnder(f, pifRef);
    const carrier = (dev: string): boolean | undefined => f.observed?.[hn]?.nics[dev]?.carrier;
    if (under.bond) {
      const bond = r.Bond[under.bond]!;
      const up = under.devices.filter((d) => carrier(d) ?? Number(bond.links_up) > 0);
      if (up.length === 0) {
        out.push({ code: 'bond-down', object: `bond ${str(r.PIF[str(bond.master)]?.device)} of ${hn}`,
          message: `every member of the bond under ${netName(f, net)} on ${hn} is down (${under.devices.join(', ')})`,
          fix: under.devices.map((d) => `xcpnet lab cable ${hn} ${d} up`).join('; ') });
      }
    } else {
      for (const d of under.devices) {
        if (carrier(d) === false) {
          out.push({ code: 'cable-down', object: `NIC ${d} of ${hn}`, message: `${d} of ${hn}, under ${netName(f, net)}, has no carrier (cable out)`, fix: `xcpnet lab cable ${hn} ${d} up` });
        }
      }
    }
    const tag = under.vlan?.tag;
    for (const d of under.devices) {
      const sp = f.switchPorts?.[`${hn}/${d}`];
      if (!sp) continue;
      const carried = tag === undefined
        ? (sp.vlanMode === 'access' ? true : sp.tag !== null || sp.trunks.length === 0)
        : sp.vlanMode === 'access' ? sp.tag === tag : sp.tag === tag || sp.trunks.length === 0 || sp.trunks.includes(tag);
      if (!carried) {
        const want = [...sp.trunks, tag ?? 1].sort((x, y) => x - y).join(',');
        out.push({ code: 'vlan-not-carried', object: `switch port ${sp.port}`,
          message: `the switch port of ${hn} ${d} (${sp.port}) does not carry ${tag === undefined ? 'untagged frames' : `VLAN ${tag}`} (trunks ${sp.trunks.join(',') || 'all'}, native ${sp.tag ?? '-'})`,
          fix: f.labSwitch ? `ovs-vsctl --db=${f.labSwitch.dbSocket} set port ${sp.port} trunks=${want}` : `configure the switch port to trunk VLAN ${tag}` });
      }
    }
  }
  return out;
}

function pairReasons(f: Facts, va: string, vb: string): Reason[] {
  const net = str(f.records.VIF[va]!.network);
  const [, vmA] = vmOf(f, va);
  const [, vmB] = vmOf(f, vb);
  const hostA = running(vmA) ? str(vmA.resident_on) : undefined;
  const hostB = running(vmB) ? str(vmB.resident_on) : undefined;
  const internal = !Object.values(f.records.PIF).some((p) => p.network === net);
  const shared = str((f.records.network[net]?.other_config as Rec | undefined)?.assume_network_is_shared) === 'true';
  const out: Reason[] = [];
  // A network without PIFs lives on one host: where a VM using it runs.
  const pinA = internal && !shared && hostA ? hostName(f, hostA) : undefined;
  const pinB = internal && !shared && hostB ? hostName(f, hostB) : undefined;
  out.push(...endReasons(f, va, pinB), ...endReasons(f, vb, pinA));
  if (internal && !shared) {
    const pinned = pinA ?? pinB;
    const other = pinA ? vmB : vmA;
    const otherHost = pinA ? hostB : hostA;
    const affinity = isRef(other.affinity) ? hostName(f, str(other.affinity)) : undefined;
    if (pinned && ((otherHost && hostName(f, otherHost) !== pinned) || (!otherHost && affinity && affinity !== pinned))) {
      out.push({ code: 'private-pinned', object: netName(f, net),
        message: `${netName(f, net)} has no PIF: it is private to one host, ${pinned}, where VM "${str((pinA ? vmA : vmB).name_label)}" runs; VM "${str(other.name_label)}" ${otherHost ? `runs on ${hostName(f, otherHost)}` : `would start on ${affinity}`}`,
        fix: `xe vm-start uuid=${str(other.uuid)} on=${pinned} (or make the network cross-host: xe tunnel-create on each host)` });
    }
    return out;
  }
  // A halted VM would start on its affinity host: the path is checked there too.
  const placeA = hostA ?? (isRef(vmA.affinity) ? str(vmA.affinity) : undefined);
  const placeB = hostB ?? (isRef(vmB.affinity) ? str(vmB.affinity) : undefined);
  const hosts = [placeA, placeB].filter((h): h is string => !!h);
  out.push(...pathReasons(f, net, hosts));
  out.push(...guestMtuReasons(f, net, [va, vb], hosts));
  return out;
}

/**
 * On a tunnel network, each guest whose interface MTU is larger than what the network carries
 * (its MTU, and every tunnel's transport MTU minus the encapsulation) loses its larger frames:
 * the MTU the guest needs, and the command that sets it.
 */
function guestMtuReasons(f: Facts, net: string, vifs: string[], hosts: string[]): Reason[] {
  const r = f.records;
  const tunnels = Object.values(r.tunnel).filter((t) => r.PIF[str(t.access_PIF)]?.network === net && hosts.includes(str(r.PIF[str(t.access_PIF)]?.host)));
  if (tunnels.length === 0) return [];
  let need = Number(r.network[net]?.MTU ?? 1500);
  let why = `its MTU is ${need}`;
  for (const t of tunnels) {
    const fit = tunnelCarries(f, t);
    if (fit && fit.carries < need) {
      need = fit.carries;
      why = `${str(r.PIF[str(t.transport_PIF)]?.device)} of ${hostName(f, str(r.PIF[str(t.access_PIF)]?.host))} has MTU ${fit.transportMtu} and ${fit.encap} adds ${ENCAP_OVERHEAD[fit.encap]} bytes`;
    }
  }
  const out: Reason[] = [];
  for (const vif of new Set(vifs)) {
    const v = r.VIF[vif]!;
    const [, vm] = vmOf(f, vif);
    const seen = f.guests?.[str(vm.uuid)]?.find((g) => g.device === str(v.device));
    if (seen?.mtu === undefined || seen.mtu <= need) continue;
    const name = str(vm.name_label);
    const dev = `eth${str(v.device)}`;
    out.push({ code: 'guest-mtu-too-large', object: `VIF ${str(v.uuid)}`,
      message: `VM "${name}" ${dev} has MTU ${seen.mtu}, but ${netName(f, net)} carries at most ${need} (${why}): the guest needs MTU ${need}, its larger frames are lost`,
      fix: f.labSwitch ? `xcpnet lab exec ${name} -- ip link set ${dev} mtu ${need}` : `in VM "${name}": ip link set ${dev} mtu ${need}` });
  }
  return out;
}

export function explain(f: Facts, a: string, b: string): Explanation {
  const A = resolveEndpoint(f, a);
  const B = resolveEndpoint(f, b);
  const pairs = A.vifs.flatMap((va) => B.vifs.filter((vb) => f.records.VIF[vb]!.network === f.records.VIF[va]!.network).map((vb) => [va, vb] as const));
  if (pairs.length === 0) {
    const netsOf = (vifs: string[]): string => [...new Set(vifs.map((v) => netName(f, str(f.records.VIF[v]!.network))))].join(', ');
    const vb = B.vifs[0]!;
    const netA = str(f.records.VIF[A.vifs[0]!]!.network);
    return { a: A.label, b: B.label, reachable: false, reasons: [{
      code: 'different-networks', object: `${A.label} and ${B.label}`,
      message: `${A.label} is on ${netsOf(A.vifs)}; ${B.label} is on ${netsOf(B.vifs)}: no network in common`,
      fix: `xe vif-move uuid=${str(f.records.VIF[vb]!.uuid)} network-uuid=${str(f.records.network[netA]?.uuid)} (VM "${vmName(f, vb)}" eth${str(f.records.VIF[vb]!.device)} onto ${A.label}'s network)`,
    }] };
  }
  const results = pairs.map(([va, vb]) => ({ net: str(f.records.VIF[va]!.network), reasons: pairReasons(f, va, vb) }));
  const ok = results.find((x) => x.reasons.length === 0);
  if (ok) return { a: A.label, b: B.label, reachable: true, network: netName(f, ok.net), reasons: [] };
  const seen = new Set<string>();
  const reasons = results.flatMap((x) => x.reasons).filter((x) => !seen.has(x.message) && (seen.add(x.message), true));
  return { a: A.label, b: B.label, reachable: false, network: netName(f, results[0]!.net), reasons };
}

export function formatExplanation(e: Explanation): string {
  if (e.reachable) return `${e.a} can reach ${e.b} at layer 2 on ${e.network}\n`;
  const out = [`${e.a} cannot reach ${e.b} at layer 2${e.network ? ` on ${e.network}` : ''}: ${e.reasons.length} reason${e.reasons.length === 1 ? '' : 's'}`];
  for (const r of e.reasons) out.push(`- ${r.message} [${r.code}: ${r.object}]`, `    fix: ${r.fix}`);
  return out.join('\n') + '\n';
}
