// `xcpnet vif-hotplug` ↔ the host's agent: one JSON request and one JSON reply per connection
// on the agent's root-only unix socket (docs/guests.md). The hotplug command speaks for the
// hypervisor (Xen's vif script, QEMU's script=, libvirt's hook); the agent binds the device it
// names to a VIF of the records and bridges it, or reports it as unknown. Types and checks
// only, no I/O: a request is hostile input to the agent and is checked whole here.
import { isGuestDeviceName } from './host-agent.js';

/** How the hypervisor's metadata names the VIF of a device; at least one way must be given. */
export interface VifSelector {
  /** The VIF's uuid (libvirt's interfaceid, an operator's `vif-uuid=`). */
  vif?: string;
  /** The VM's uuid or name-label, with `vmDevice` the VIF's device number (Xen's devid). */
  vm?: string;
  vmDevice?: number;
  /** The guest's MAC (the frontend's, not the host device's). */
  mac?: string;
}

export type HotplugRequest =
  /** The hypervisor made `device` for a guest interface; domid -1 when it gives none. */
  | { op: 'add'; device: string; domid: number; find: VifSelector }
  /** The hypervisor removed (or is removing) `device`. */
  | { op: 'remove'; device: string }
  /** The hypervisor's domain of this VM (uuid or name-label) has stopped. */
  | { op: 'stopped'; vm: string };

export type HotplugReply = { ok: true; message: string } | { ok: false; error: string };

/** A request is one line of at most this many bytes; the agent reads no more. */
export const HOTPLUG_MAX_REQUEST = 4096;

export class HotplugRequestError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A VM's uuid or name-label: printable, at most 255 characters. */
export const isVmName = (s: string): boolean => s.length >= 1 && s.length <= 255 && ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (what: string, v: unknown): never => { throw new HotplugRequestError(`invalid ${what}: ${JSON.stringify(v)?.slice(0, 80)}`); };

function only(o: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`${what} member`, k);
}

function device(v: unknown): string {
  return typeof v === 'string' && isGuestDeviceName(v) ? v : bad('device name', v);
}

export function parseSelector(v: unknown): VifSelector {
  if (!isObj(v)) return bad('selector', v);
  only(v, ['vif', 'vm', 'vmDevice', 'mac'], 'selector');
  const out: VifSelector = {};
  if (v.vif !== undefined) out.vif = typeof v.vif === 'string' && UUID.test(v.vif.toLowerCase()) ? v.vif.toLowerCase() : bad('VIF uuid', v.vif);
  if (v.vm !== undefined) out.vm = typeof v.vm === 'string' && isVmName(v.vm) ? v.vm : bad('VM', v.vm);
  if (v.vmDevice !== undefined) {
    out.vmDevice = typeof v.vmDevice === 'number' && Number.isInteger(v.vmDevice) && v.vmDevice >= 0 && v.vmDevice <= 65535 ? v.vmDevice : bad('VIF device number', v.vmDevice);
  }
  if (v.mac !== undefined) out.mac = typeof v.mac === 'string' && MAC.test(v.mac.toLowerCase()) ? v.mac.toLowerCase() : bad('MAC', v.mac);
  if ((out.vm === undefined) !== (out.vmDevice === undefined)) bad('selector (vm and vmDevice go together)', v);
  if (out.vif === undefined && out.vm === undefined && out.mac === undefined) bad('selector (no VIF uuid, VM + device or MAC)', v);
  return out;
}

/** The request a wire value holds, or a HotplugRequestError saying what is wrong. */
export function parseHotplugRequest(v: unknown): HotplugRequest {
  if (!isObj(v)) return bad('request', v);
  switch (v.op) {
    case 'add': {
      only(v, ['op', 'device', 'domid', 'find'], 'request');
      const domid = typeof v.domid === 'number' && Number.isInteger(v.domid) && v.domid >= -1 && v.domid <= 2 ** 31 - 1 ? v.domid : bad('domid', v.domid);
      return { op: 'add', device: device(v.device), domid, find: parseSelector(v.find) };
    }
    case 'remove':
      only(v, ['op', 'device'], 'request');
      return { op: 'remove', device: device(v.device) };
    case 'stopped':
      only(v, ['op', 'vm'], 'request');
      return { op: 'stopped', vm: typeof v.vm === 'string' && isVmName(v.vm) ? v.vm : bad('VM', v.vm) };
    default:
      return bad('operation', v.op);
  }
}
