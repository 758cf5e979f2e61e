// `xcpnet vif-hotplug`: the hypervisor's hook into xcpnet (docs/guests.md). It speaks for Xen
// (as its vif script), QEMU (script= / downscript=), libvirt (its qemu hook) or an operator, turns
// what the hypervisor gives (arguments, environment, xenstore, the domain XML, QEMU's command
// line) into one request, and sends it to the host's agent over the agent's root-only socket.
// Everything it is given is hostile input: every value is checked before it is used, and nothing
// is ever run through a shell (xenstore-read/-write get argv arrays).
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { hotplugSocket } from '../common/paths.js';
import { isGuestDeviceName } from '../protocol/host-agent.js';
import { HotplugRequestError, parseHotplugRequest, parseSelector, type HotplugReply, type HotplugRequest, type VifSelector } from '../protocol/hotplug.js';

const run = promisify(execFile);

export class UsageError extends Error {}

const need = (ok: boolean, msg: string): void => { if (!ok) throw new UsageError(msg); };

/** A device name from the hypervisor: a plain Linux interface name, or an error naming it. */
export function checkDevice(v: string | undefined, from: string): string {
  need(v !== undefined && isGuestDeviceName(v), `${from}: not a network device name: ${JSON.stringify(v ?? '')?.slice(0, 40)}`);
  return v!;
}

// ---- Xen (libxl runs the vif script with online|offline|add|remove, env vif= and XENBUS_PATH=) ----

export interface XenCall { action: 'add' | 'remove'; device: string; domid: number; devid: number; xenbusPath: string; emulated: boolean }

/** Pure: Xen's invocation, or an error. `type_if=…` (older scripts' second argument) is ignored. */
export function parseXen(argv: string[], env: NodeJS.ProcessEnv): XenCall {
  const [op] = argv;
  need(op === 'online' || op === 'add' || op === 'offline' || op === 'remove', `Xen vif script: unknown action ${JSON.stringify(op)}`);
  const path = env.XENBUS_PATH ?? '';
  const m = /^backend\/vif\/(\d{1,5})\/(\d{1,5})$/.exec(path);
  need(m !== null, `Xen vif script: XENBUS_PATH is not backend/vif/<domid>/<devid>: ${JSON.stringify(path).slice(0, 80)}`);
  const domid = Number(m![1]);
  const devid = Number(m![2]);
  const vif = env.vif ?? '';
  // Netback names its device vif<domid>.<devid>; an HVM guest's emulated twin is a tap named vif<domid>.<devid>-emu.
  const v = /^vif(\d{1,5})\.(\d{1,5})(-emu)?$/.exec(vif);
  need(v !== null && Number(v[1]) === domid && Number(v[2]) === devid, `Xen vif script: vif=${JSON.stringify(vif).slice(0, 40)} is not the device of ${path}`);
  return { action: op === 'online' || op === 'add' ? 'add' : 'remove', device: vif, domid, devid, xenbusPath: path, emulated: v![3] !== undefined };
}

/** Reads a xenstore key (xenstore-read, argv only); undefined when it has none. */
export type XenstoreRead = (key: string) => Promise<string | undefined>;

const xenstoreRead: XenstoreRead = async (key) => {
  try { return (await run('xenstore-read', [key], { timeout: 10_000, maxBuffer: 64 * 1024 })).stdout.trim(); } catch { return undefined; }
};

/** The VIF of a Xen device: its domain's uuid (`/local/domain/<domid>/vm` is `/vm/<uuid>`) and devid, and the frontend's MAC. */
export async function xenSelector(x: XenCall, read: XenstoreRead): Promise<VifSelector> {
  const vmPath = await read(`/local/domain/${x.domid}/vm`);
  const uuid = /^\/vm\/([0-9a-fA-F-]{36})$/.exec(vmPath ?? '')?.[1];
  const mac = await read(`${x.xenbusPath}/mac`);
  const sel: Record<string, unknown> = {};
  if (uuid) { sel.vm = uuid.toLowerCase(); sel.vmDevice = x.devid; }
  if (mac) sel.mac = mac.toLowerCase();
  need(Object.keys(sel).length > 0, `xenstore has neither the domain's uuid nor ${x.xenbusPath}/mac`);
  return parseSelector(sel);
}

// ---- QEMU (script= gets the tap's name as $1; nothing else: the rest is read from QEMU's command line) ----

/**
 * Pure: the guest MAC of the NIC using tap `dev`, from QEMU's argv: `-netdev tap,id=ID,ifname=DEV`
 * with `-device …,netdev=ID,mac=MAC`, or `-nic tap,ifname=DEV,mac=MAC`. Undefined when absent.
 */
export function macFromQemuArgv(argv: string[], dev: string): string | undefined {
  const opts = (s: string) => new Map(s.split(',').map((kv) => { const i = kv.indexOf('='); return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)]; }));
  const values = (flag: string) => argv.flatMap((a, i) => (a === flag || a === `-${flag}`) && argv[i + 1] !== undefined ? [argv[i + 1]!] : []);
  for (const nic of values('-nic')) { const o = opts(nic); if (o.get('ifname') === dev) return o.get('mac'); }
  const id = values('-netdev').map(opts).find((o) => o.get('ifname') === dev)?.get('id');
  if (id === undefined) return undefined;
  return values('-device').map(opts).find((o) => o.get('netdev') === id)?.get('mac');
}

/** The selector an operator put in the environment QEMU (and so its script) inherits, if any. */
export function selectorFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const sel: Record<string, unknown> = {};
  if (env.XCPNET_VIF_UUID) sel.vif = env.XCPNET_VIF_UUID;
  if (env.XCPNET_VM) sel.vm = env.XCPNET_VM;
  if (env.XCPNET_VIF_DEVICE) sel.vmDevice = /^\d{1,5}$/.test(env.XCPNET_VIF_DEVICE) ? Number(env.XCPNET_VIF_DEVICE) : env.XCPNET_VIF_DEVICE;
  return sel;
}

/** QEMU's argv when the parent process is QEMU (its executable is named qemu-system-…), else undefined. */
function parentQemuArgv(): string[] | undefined {
  const ppid = process.ppid;
  try {
    if (!/^(qemu-system-|qemu-kvm$|kvm$)/.test(basename(readlinkSync(`/proc/${ppid}/exe`)))) return undefined;
    const raw = readFileSync(`/proc/${ppid}/cmdline`);
    if (raw.length > 1024 * 1024) return undefined;
    return raw.toString('utf8').split('\0').filter((x) => x !== '');
  } catch { return undefined; }
}

// ---- libvirt (/etc/libvirt/hooks/qemu NAME OP SUBOP EXTRA, the domain XML on stdin) ----

export interface LibvirtDomain { uuid: string; name: string; id: number; nics: { dev: string; mac?: string; interfaceid?: string }[] }

const attr = (tag: string, name: string): string | undefined => new RegExp(`\\s${name}\\s*=\\s*(?:'([^']*)'|"([^"]*)")`).exec(tag)?.slice(1).find((x) => x !== undefined);

/**
 * Pure: what the hook needs of the domain XML (uuid, name, the running domain's id, each
 * interface's tap, MAC and openvswitch interfaceid). Only these few elements are read; anything
 * else in the document is ignored, and every value is checked by the request parser afterwards.
 */
export function parseDomainXml(xml: string): LibvirtDomain {
  const domain = /<domain\b[^>]*>/.exec(xml)?.[0] ?? '';
  const body = xml.replace(/<devices>[\s\S]*?<\/devices>/, (d) => d.replace(/<(uuid|name)>/g, '<_$1>'));
  const uuid = /<uuid>\s*([^<]*?)\s*<\/uuid>/.exec(body)?.[1] ?? '';
  const name = /<name>\s*([^<]*?)\s*<\/name>/.exec(body)?.[1] ?? '';
  const id = Number(attr(domain, 'id') ?? -1);
  const nics: LibvirtDomain['nics'] = [];
  for (const m of xml.matchAll(/<interface\b[^>]*>([\s\S]*?)<\/interface>/g)) {
    const inner = m[1]!;
    const dev = attr(/<target\b[^>]*>/.exec(inner)?.[0] ?? '', 'dev');
    if (dev === undefined) continue;
    const mac = attr(/<mac\b[^>]*>/.exec(inner)?.[0] ?? '', 'address');
    const interfaceid = attr(/<parameters\b[^>]*>/.exec(inner)?.[0] ?? '', 'interfaceid');
    nics.push({ dev, ...(mac ? { mac } : {}), ...(interfaceid ? { interfaceid } : {}) });
  }
  return { uuid, name, id: Number.isInteger(id) && id >= 0 ? id : -1, nics };
}

async function readStdin(max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    n += (c as Buffer).length;
    if (n > max) throw new UsageError(`libvirt hook: domain XML larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---- manual: add DEV key=value… | remove DEV | stopped VM ----

/** Pure: `add DEV vif-uuid=U | vm=VM device=N | mac=M [domid=D]`, `remove DEV`, `stopped VM`. */
export function parseManual(argv: string[]): HotplugRequest {
  const [op, target, ...rest] = argv;
  if (op === 'stopped') { need(target !== undefined && rest.length === 0, 'usage: stopped VM'); return parseHotplugRequest({ op, vm: target }); }
  const device = checkDevice(target, op ?? '');
  if (op === 'remove') { need(rest.length === 0, 'usage: remove DEV'); return { op, device }; }
  need(op === 'add', `unknown operation ${JSON.stringify(op)}`);
  const kv = new Map<string, string>();
  for (const a of rest) {
    const i = a.indexOf('=');
    need(i > 0 && ['vif-uuid', 'vm', 'device', 'mac', 'domid'].includes(a.slice(0, i)) && !kv.has(a.slice(0, i)), `add: unexpected argument ${JSON.stringify(a).slice(0, 60)}`);
    kv.set(a.slice(0, i), a.slice(i + 1));
  }
  const num = (k: string) => { const v = kv.get(k); if (v === undefined) return undefined; need(/^\d{1,10}$/.test(v), `add: ${k} must be a number`); return Number(v); };
  const sel: Record<string, unknown> = {};
  if (kv.has('vif-uuid')) sel.vif = kv.get('vif-uuid');
  if (kv.has('vm')) sel.vm = kv.get('vm');
  if (kv.has('device')) sel.vmDevice = num('device');
  if (kv.has('mac')) sel.mac = kv.get('mac');
  return parseHotplugRequest({ op: 'add', device, domid: num('domid') ?? -1, find: sel });
}

// ---- the agent ----

/** Sends one request to the agent; its reply (bounded: 90 s, 64 KiB). */
export function askAgent(socket: string, req: HotplugRequest, timeoutMs = 90_000): Promise<HotplugReply> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    s.setTimeout(timeoutMs, () => { s.destroy(); reject(new Error(`the agent did not answer within ${timeoutMs / 1000} s`)); });
    s.on('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (c) => { buf += c.toString('utf8'); if (buf.length > 65536) s.destroy(new Error('reply too long')); });
    s.on('error', (e) => reject(new Error(`cannot reach the host's agent on ${socket}: ${e.message}`)));
    s.on('end', () => {
      try {
        const r = JSON.parse(buf) as HotplugReply;
        if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') throw new Error('bad reply');
        resolve(r);
      } catch { reject(new Error(`unreadable reply from the agent: ${buf.slice(0, 200)}`)); }
    });
  });
}

/** The requests an invocation means (none: nothing to do, with why). */
async function requestsOf(argv: string[], env: NodeJS.ProcessEnv): Promise<{ reqs: HotplugRequest[]; xen?: XenCall; note?: string }> {
  const [mode, ...rest] = argv;
  if ((mode === 'online' || mode === 'offline' || mode === 'add' || mode === 'remove') && env.XENBUS_PATH !== undefined && rest.every((a) => a.startsWith('type_if='))) {
    const x = parseXen([mode], env);
    if (x.emulated) return { reqs: [], xen: x, note: `${x.device} is an HVM guest's emulated NIC: not attached (xcpnet attaches the PV vif; docs/guests.md)` };
    if (x.action === 'remove') return { reqs: [{ op: 'remove', device: x.device }], xen: x };
    return { reqs: [{ op: 'add', device: x.device, domid: x.domid, find: await xenSelector(x, xenstoreRead) }], xen: x };
  }
  if (mode === 'qemu-ifup' || mode === 'qemu-ifdown') {
    need(rest.length === 1, `usage: ${mode} DEV (as QEMU's script=/downscript=)`);
    const device = checkDevice(rest[0], mode);
    if (mode === 'qemu-ifdown') return { reqs: [{ op: 'remove', device }] };
    const sel = selectorFromEnv(env);
    const qemu = parentQemuArgv();
    const mac = qemu ? macFromQemuArgv(qemu, device) : undefined;
    if (mac !== undefined) sel.mac = mac.toLowerCase();
    return { reqs: [parseHotplugRequest({ op: 'add', device, domid: -1, find: sel })] };
  }
  if (mode === 'libvirt') {
    const [, op] = rest;
    need(rest.length >= 3 && rest[0] !== undefined && op !== undefined, 'usage: libvirt NAME OPERATION SUB-OPERATION [EXTRA] (the domain XML on stdin)');
    if (op !== 'started' && op !== 'reconnect' && op !== 'stopped' && op !== 'release') return { reqs: [], note: `libvirt ${op}: nothing to do` };
    const d = parseDomainXml(await readStdin(4 * 1024 * 1024));
    need(d.uuid !== '', 'libvirt hook: the domain XML has no <uuid>');
    if (op === 'stopped' || op === 'release') return { reqs: [parseHotplugRequest({ op: 'stopped', vm: d.uuid.toLowerCase() })] };
    return {
      reqs: d.nics.map((n) => parseHotplugRequest({
        op: 'add', device: checkDevice(n.dev, 'libvirt interface'), domid: d.id,
        find: { ...(n.interfaceid ? { vif: n.interfaceid } : {}), ...(n.mac ? { mac: n.mac.toLowerCase() } : {}) },
      })),
    };
  }
  return { reqs: [parseManual(argv)] };
}

/** Xen's own protocol for the script's outcome, in xenstore (best effort: libxl also reads the exit code). */
async function tellXen(x: XenCall, error: string | undefined): Promise<void> {
  const args = error === undefined ? [`${x.xenbusPath}/hotplug-status`, 'connected']
    : [`${x.xenbusPath}/hotplug-error`, error.slice(0, 200), `${x.xenbusPath}/hotplug-status`, 'error'];
  await run('xenstore-write', args, { timeout: 10_000 }).catch(() => undefined);
}

export async function vifHotplug(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let socket = hotplugSocket(env);
  const i = argv.indexOf('--socket');
  if (i >= 0) { socket = argv[i + 1] ?? ''; argv = [...argv.slice(0, i), ...argv.slice(i + 2)]; }
  let plan: Awaited<ReturnType<typeof requestsOf>>;
  try { plan = await requestsOf(argv, env); } catch (e) {
    if (e instanceof UsageError || e instanceof HotplugRequestError) { process.stderr.write(`xcpnet vif-hotplug: ${e.message}\n`); return 2; }
    throw e;
  }
  if (plan.note) process.stderr.write(`xcpnet vif-hotplug: ${plan.note}\n`);
  let failed: string | undefined;
  for (const req of plan.reqs) {
    let r: HotplugReply;
    try { r = await askAgent(socket, req); } catch (e) { r = { ok: false, error: (e as Error).message }; }
    if (r.ok) process.stdout.write(`xcpnet vif-hotplug: ${r.message}\n`);
    else { process.stderr.write(`xcpnet vif-hotplug: ${r.error}\n`); failed ??= r.error; }
  }
  if (plan.xen?.action === 'add') await tellXen(plan.xen, failed);
  // A device going away is never refused: the hypervisor removes it whatever we say.
  return failed !== undefined && plan.reqs.some((r) => r.op !== 'remove') ? 1 : 0;
}
