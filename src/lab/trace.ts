// `xcpnet trace A B`: one frame from VM A to VM B, hop by hop, with Open vSwitch's own trace
// (`ovs-appctl ofproto/trace`, run with argv) on each host and on the lab switch, datapath port
// numbers replaced by names. The parsers are pure; walkFrame does the I/O.
import { ovsEnv } from '../backends/ovsdb/index.js';
import { run } from './sh.js';
import type { LabState } from './state.js';
import { type Facts, str, vifDevice, hostName } from './topology-model.js';
import { resolveEndpoint } from './explain.js';
import { compileLabPlan } from './plan.js';

// ---- pure: parsing what ovs-appctl prints ----

/** `ovs-appctl dpif/show`: datapath port number → interface name (and its bridge). */
export function parseDpifShow(text: string): Map<number, { name: string; bridge: string }> {
  const out = new Map<number, { name: string; bridge: string }>();
  let bridge = '';
  for (const line of text.split('\n')) {
    const b = /^ {2}(\S+):$/.exec(line);
    if (b) { bridge = b[1]!; continue; }
    const p = /^ {4}(\S+) (?:\d+|LOCAL)\/(\d+):/.exec(line);
    if (p) out.set(Number(p[2]), { name: p[1]!, bridge });
  }
  return out;
}

export type DpAction =
  | { kind: 'output'; port: number; vlan?: number; outer?: { srcMac: string; dstMac: string; srcIp: string; dstIp: string } }
  | { kind: 'tunnel'; src: string; dst: string; key: number; protocol: string; outerSrcMac?: string; outerDstMac?: string }
  | { kind: 'drop' };

/** Splits at commas outside parentheses. */
function topLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { out.push(cur); cur = ''; } else cur += ch;
  }
  if (cur) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

/**
 * The `Datapath actions:` line of ofproto/trace → outputs (with the VLAN tag they carry) and
 * tunnels; `vlan` is the tag the traced frame came in with.
 */
export function parseDatapathActions(trace: string, inVlan?: number): DpAction[] {
  const line = /^Datapath actions: (.*)$/m.exec(trace)?.[1]?.trim();
  if (line === undefined || line === 'drop') return [{ kind: 'drop' }];
  const out: DpAction[] = [];
  let vlan: number | undefined = inVlan;
  let outer: { srcMac: string; dstMac: string; srcIp: string; dstIp: string } | undefined;
  for (const a of topLevel(line)) {
    if (/^\d+$/.test(a)) out.push({ kind: 'output', port: Number(a), ...(vlan !== undefined ? { vlan } : {}), ...(outer ? { outer } : {}) });
    else if (a.startsWith('push_vlan(')) vlan = Number(/vid=(\d+)/.exec(a)?.[1]);
    else if (a === 'pop_vlan') vlan = undefined;
    else if (a.startsWith('tnl_push(')) {
      const ip = /ipv4\(src=([\d.]+),dst=([\d.]+)/.exec(a);
      const eth = /eth\(dst=([0-9a-f:]+),src=([0-9a-f:]+)/.exec(a);
      const vni = /vni=(0x[0-9a-f]+)/.exec(a);
      const gre = /key=(0x[0-9a-f]+)/.exec(a);
      if (ip) {
        if (eth) outer = { srcMac: eth[2]!, dstMac: eth[1]!, srcIp: ip[1]!, dstIp: ip[2]! };
        out.push({ kind: 'tunnel', src: ip[1]!, dst: ip[2]!, key: Number(vni?.[1] ?? gre?.[1] ?? 0), protocol: vni ? 'vxlan' : 'gre',
          ...(eth ? { outerDstMac: eth[1]!, outerSrcMac: eth[2]! } : {}) });
      }
      // The outputs after a tunnel push carry the outer frame: they are the transport's hop.
      vlan = undefined;
    }
  }
  return out.length ? out : [{ kind: 'drop' }];
}

// ---- the walk ----

export interface Hop {
  where: string;
  input: string;
  outputs: string[];
  /** The flow ofproto/trace was given (names, not numbers). */
  flow: string;
}

interface Frame { srcMac: string; dstMac: string; srcIp?: string; dstIp?: string }

function flowText(inPort: string, f: Frame, extra: string[] = []): string {
  const parts = [`in_port=${inPort}`, ...extra, `dl_src=${f.srcMac}`, `dl_dst=${f.dstMac}`];
  if (f.srcIp && f.dstIp) parts.push('dl_type=0x0800', `nw_src=${f.srcIp}`, `nw_dst=${f.dstIp}`, 'nw_proto=1');
  return parts.join(',');
}

const SAFE = /^[A-Za-z0-9_.:=,x-]+$/;

async function ofprotoTrace(ovsDir: string, bridge: string, flow: string): Promise<{ text: string; ports: Map<number, { name: string; bridge: string }> }> {
  // Every piece comes from records or OVSDB: refuse anything that is not a plain flow or name.
  if (!SAFE.test(bridge) || !SAFE.test(flow)) throw new Error(`refusing to trace an unexpected bridge or flow: ${bridge} ${flow}`);
  const env = ovsEnv(ovsDir);
  const [trace, dpif] = await Promise.all([
    run('ovs-appctl', ['ofproto/trace', bridge, flow], { env, timeoutMs: 10_000, allowFail: true }),
    run('ovs-appctl', ['dpif/show'], { env, timeoutMs: 10_000 }),
  ]);
  if (trace.code !== 0) throw new Error(`ovs-appctl ofproto/trace ${bridge} ${flow}: ${trace.stderr.trim()}`);
  return { text: trace.stdout, ports: parseDpifShow(dpif.stdout) };
}

/** Walks one frame from VM A's VIF to VM B's VIF; at most `maxHops` traces. */
export async function walkFrame(f: Facts, lab: LabState, a: string, b: string, maxHops = 8): Promise<Hop[]> {
  const A = resolveEndpoint(f, a);
  const B = resolveEndpoint(f, b);
  const pair = A.vifs.flatMap((va) => B.vifs.filter((vb) => f.records.VIF[vb]!.network === f.records.VIF[va]!.network).map((vb) => [va, vb] as const))[0];
  if (!pair) throw new Error(`${A.label} and ${B.label} share no network: xcpnet explain ${a} ${b} says what to do`);
  const [va, vb] = pair;
  const vmA = f.records.VM[str(f.records.VIF[va]!.VM)]!;
  const vmB = f.records.VM[str(f.records.VIF[vb]!.VM)]!;
  for (const [vm, label] of [[vmA, A.label], [vmB, B.label]] as const) {
    if (vm.power_state !== 'Running') throw new Error(`${label} is not running: xcpnet explain ${a} ${b} says what to do`);
  }
  const devA = vifDevice(f, va)!;
  const devB = vifDevice(f, vb)!;
  const guestIp = (vm: Record<string, unknown>, vif: string): string | undefined =>
    f.guests?.[str(vm.uuid)]?.find((g) => g.device === str(f.records.VIF[vif]!.device))?.ipv4[0];
  const frame: Frame = { srcMac: str(f.records.VIF[va]!.MAC), dstMac: str(f.records.VIF[vb]!.MAC),
    ...(guestIp(vmA, va) && guestIp(vmB, vb) ? { srcIp: guestIp(vmA, va)!, dstIp: guestIp(vmB, vb)! } : {}) };
  const hostB = hostName(f, str(vmB.resident_on));
  const vmLabel = new Map<string, string>();
  for (const [vifRef, vif] of Object.entries(f.records.VIF)) {
    const d = vifDevice(f, vifRef);
    if (d) vmLabel.set(d, `VM "${str(f.records.VM[str(vif.VM)]?.name_label)}" eth${str(vif.device)}`);
  }
  const hostByName = (n: string) => lab.hosts.find((h) => h.name === n);
  const realBridgeOf = (host: string, port: string): string | undefined =>
    f.observed?.[host]?.ovs?.find((br) => br.ports.some((p) => p.name === port || p.interfaces.some((i) => i.name === port)))?.name;
  const switchPortOf = (host: string, dev: string): string | undefined => hostByName(host)?.nics.find((n) => n.device === dev)?.port;
  const nicOfSwitchPort = (port: string): { host: string; device: string } | undefined => {
    for (const h of lab.hosts) for (const n of h.nics) if (n.port === port) return { host: h.name, device: n.device };
    return undefined;
  };

  const upstreamPort = compileLabPlan({ name: lab.name, hosts: lab.hosts.length, nics: lab.nics }).upstream.cable.port;
  const hops: Hop[] = [];
  type Step = { kind: 'host'; host: string; inPort: string; frame: Frame; extra: string[]; note: string }
    | { kind: 'switch'; inPort: string; frame: Frame; vlan?: number; note: string; outer: boolean };
  const queue: Step[] = [{ kind: 'host', host: hostName(f, str(vmA.resident_on)), inPort: devA, frame, extra: [], note: `${devA} (${A.label})` }];
  const seen = new Set<string>();
  while (queue.length && hops.length < maxHops) {
    const step = queue.shift()!;
    const key = `${step.kind}:${'host' in step ? step.host : 'sw'}:${step.inPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (step.kind === 'host') {
      const h = hostByName(step.host);
      const bridge = realBridgeOf(step.host, step.inPort);
      if (!h?.ovs || !bridge) {
        hops.push({ where: `${step.host}`, input: step.note, outputs: [`no Open vSwitch bridge has ${step.inPort}: xcpnet explain ${a} ${b}`], flow: '' });
        continue;
      }
      const flow = flowText(step.inPort, step.frame, step.extra);
      const t = await ofprotoTrace(h.ovs.dir, bridge, flow);
      const outs: string[] = [];
      // The tunnel's far end comes after the switch that carries its outer frame.
      const later: Step[] = [];
      const inVlan = step.extra.find((x) => x.startsWith('dl_vlan='));
      for (const act of parseDatapathActions(t.text, inVlan ? Number(inVlan.slice(8)) : undefined)) {
        if (act.kind === 'drop') { outs.push('DROPPED (no rule forwards it)'); continue; }
        if (act.kind === 'tunnel') {
          const remote = lab.hosts.find((x) => f.observed?.[x.name] && Object.values(f.records.PIF).some((p) => p.IP === act.dst && hostName(f, str(p.host)) === x.name));
          outs.push(`tunnel ${act.protocol} key ${act.key} from ${act.src} to ${act.dst}${remote ? ` (${remote.name})` : ''}, encapsulated`);
          if (remote) {
            const tunPort = f.observed?.[remote.name]?.ovs?.flatMap((br) => br.ports.flatMap((p) => p.interfaces)).find((i) => i.remote === act.src && Number(i.key) === act.key)?.name;
            if (tunPort) {
              later.push({ kind: 'host', host: remote.name, inPort: tunPort, frame: step.frame,
                extra: [`tun_id=${act.key}`, `tun_src=${act.src}`, `tun_dst=${act.dst}`], note: `tunnel ${tunPort} from ${step.host} (decapsulated)` });
            }
          }
          continue;
        }
        const name = t.ports.get(act.port)?.name ?? `datapath port ${act.port}`;
        const tag = act.vlan !== undefined ? ` tagged VLAN ${act.vlan}` : '';
        if (/^eth\d+$/.test(name)) {
          const sp = switchPortOf(step.host, name);
          outs.push(`${name}${tag}${act.outer ? ' (the tunnel\'s outer frame)' : ''} → switch port ${sp ?? '?'}`);
          if (sp && lab.switch?.ovs) {
            queue.push({ kind: 'switch', inPort: sp, frame: act.outer ? { srcMac: act.outer.srcMac, dstMac: act.outer.dstMac } : step.frame, outer: !!act.outer, ...(act.vlan !== undefined ? { vlan: act.vlan } : {}),
              note: `${sp} (${step.host} ${name})${tag}${act.outer ? `, outer frame ${act.outer.srcIp} → ${act.outer.dstIp}` : ''}` });
          }
        } else if (name === devB) outs.push(`${name} → ${B.label}: delivered`);
        else if (vmLabel.has(name)) outs.push(`${name} (${vmLabel.get(name)}): flooded there too`);
        else outs.push(`${name} (the host's own interface)`);
      }
      queue.push(...later);
      hops.push({ where: `${step.host} bridge ${bridge}`, input: step.note, outputs: outs, flow });
    } else {
      const sw = lab.switch!.ovs!;
      const flow = flowText(step.inPort, step.frame, step.vlan !== undefined ? [`dl_vlan=${step.vlan}`] : []);
      const t = await ofprotoTrace(sw.dir, 'sw0', flow);
      const outs: string[] = [];
      for (const act of parseDatapathActions(t.text, step.vlan)) {
        if (act.kind === 'drop') { outs.push('DROPPED (the port does not carry this VLAN, or nothing forwards it)'); continue; }
        if (act.kind !== 'output') continue;
        const name = t.ports.get(act.port)?.name ?? `datapath port ${act.port}`;
        const nic = nicOfSwitchPort(name);
        const tag = act.vlan !== undefined && act.vlan !== 1 ? ` tagged VLAN ${act.vlan}` : '';
        if (!nic) { outs.push(`${name}${name === upstreamPort ? ' (upstream)' : ''}${tag}`); continue; }
        const toB = nic.host === hostB;
        outs.push(`${name}${tag} → ${nic.host} ${nic.device}${toB ? (step.outer ? ' (decapsulated there: next hop)' : '') : ' (flooded)'}`);
        // The tunnel's far end is traced from its tunnel port (queued when the frame was encapsulated).
        if (toB && !step.outer) queue.push({ kind: 'host', host: nic.host, inPort: nic.device, frame: step.frame, extra: tag ? [`dl_vlan=${act.vlan}`] : [], note: `${nic.device} from ${name}${tag}` });
      }
      hops.push({ where: 'switch sw0', input: step.note, outputs: outs, flow });
    }
  }
  return hops;
}

export function formatHops(hops: Hop[]): string {
  const out: string[] = [];
  hops.forEach((h, i) => {
    out.push(`${i + 1}. ${h.where}: in ${h.input}`);
    for (const o of h.outputs) out.push(`     out ${o}`);
    if (h.flow) out.push(`     (ovs-appctl ofproto/trace ${h.where.split(' ').at(-1)} ${h.flow})`);
  });
  return out.join('\n') + '\n';
}
