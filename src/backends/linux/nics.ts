// Physical NIC discovery in a host's namespace.
//
// The rule: a link is a physical NIC, whatever its name (eth0, ens5, enp1s0f0…), when the kernel
// gives it no link kind (a hardware NIC: virtio, e1000, mlx5…) or it is a veth whose other end
// is in another namespace (the lab cables its hosts' NICs so; a veth pair inside one namespace
// is plumbing), and it is neither the loopback nor a guest's backend interface
// (`vif<domid>.<n>`, `tap<domid>.<n>`). Every device some switch or stack made has a kind
// (bridge, bond, vlan, openvswitch, tun, vxlan, gre, dummy…) and is excluded. Carrier comes
// from LOWER_UP; speed, duplex, driver and PCI data from sysfs of that namespace when present
// (0/'' otherwise); the position from the host's persisted NIC order (nic-order.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Nic } from '../contract.js';
import type { Ip, IpLink } from './ip.js';
import type { NicOrder } from './nic-order.js';

const exec = promisify(execFile);

const GUEST_BACKEND = /^(vif|tap)\d+\.\d+$/;

/** Pure: is this link a NIC by the rule above. */
export function isPhysicalNic(l: IpLink): boolean {
  if (l.flags.includes('LOOPBACK') || GUEST_BACKEND.test(l.ifname)) return false;
  return l.kind === undefined || (l.kind === 'veth' && l.peerNetnsId !== undefined);
}

/** Orders names naturally: eth2 before eth10, ens5 before ens10. */
export const byNicName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

// Reads the sysfs facts of the given devices in one process (sysfs is per namespace, so it
// runs through `ip netns exec`, which mounts the namespace's own sysfs). Shell builtins only,
// but for readlink: on a slow host (a loaded VM) a fork per fact made it outlast its bound,
// and the facts silently became 0/''.
const SCRIPT = 'r() { v=; read -r v < "$1" 2>/dev/null; printf %s "$v"; }; ' +
  'for d in "$@"; do s=/sys/class/net/$d; drv=$(readlink $s/device/driver 2>/dev/null); dev=$(readlink $s/device 2>/dev/null); ' +
  'printf "%s|%s|%s|%s|%s:%s|%s\\n" "$d" "$(r $s/speed)" "$(r $s/duplex)" "${drv##*/}" "$(r $s/device/vendor)" "$(r $s/device/device)" "${dev##*/}"; done';

interface SysFacts { speed: number; duplex: string; driver: string; vendor: string; device: string; pci: string }

async function sysFacts(netnsName: string | undefined, devs: string[]): Promise<Map<string, SysFacts>> {
  const out = new Map<string, SysFacts>();
  if (devs.length === 0) return out;
  try {
    const argv = ['-c', SCRIPT, 'sh', ...devs];
    const { stdout } = netnsName
      ? await exec('ip', ['netns', 'exec', netnsName, 'sh', ...argv], { timeout: 30000 })
      : await exec('sh', argv, { timeout: 30000 });
    for (const line of stdout.split('\n')) {
      const [d, speed, duplex, driver, ids, pci] = line.split('|');
      if (!d) continue;
      const [vendor, device] = (ids ?? ':').split(':');
      const n = Number(speed);
      out.set(d, {
        speed: Number.isFinite(n) && n > 0 ? n : 0, duplex: duplex || '', driver: driver || '',
        vendor: (vendor ?? '').replace(/^0x/, ''), device: (device ?? '').replace(/^0x/, ''), pci: /^[0-9a-f]{4}:/.test(pci ?? '') ? pci! : '',
      });
    }
  } catch { /* sysfs facts are best effort */ }
  return out;
}

export async function discoverNics(ip: Ip, order?: NicOrder): Promise<Nic[]> {
  const links = (await ip.links()).filter(isPhysicalNic).sort((a, b) => byNicName(a.ifname, b.ifname));
  const facts = await sysFacts(ip.netns, links.map((l) => l.ifname));
  const positions = order?.positions(links.map((l) => ({ name: l.ifname, mac: (l.address ?? '').toLowerCase(), pci: facts.get(l.ifname)?.pci ?? '' })));
  const nics = links.map((l): Nic => {
    const f = facts.get(l.ifname);
    const position = positions?.get(l.ifname);
    return {
      ...(position !== undefined ? { position } : {}),
      device: l.ifname, MAC: (l.address ?? '').toLowerCase(), MTU: l.mtu, carrier: l.flags.includes('LOWER_UP'),
      speed: f?.speed ?? 0, duplex: f?.duplex === 'full' || f?.duplex === 'half' ? f.duplex : 'unknown',
      vendor_id: f?.vendor ?? '', vendor_name: '', device_id: f?.device ?? '', device_name: '',
      pci_bus_path: f?.pci ?? '', driver: f?.driver || (l.kind ?? ''),
    };
  });
  return nics.sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity) || byNicName(a.device, b.device));
}

/** What identifies the NIC inventory: name, MAC, MTU, kind, carrier, up of every NIC link. */
export const nicSignature = (links: Iterable<IpLink>): string => JSON.stringify([...links].filter(isPhysicalNic)
  .map((l) => [l.ifname, l.address, l.mtu, l.kind, l.flags.includes('LOWER_UP'), l.flags.includes('UP')]));

/**
 * The NICs, discovered again (with their sysfs facts) only when the NIC links of the driver's
 * last kernel view differ from those of the last discovery (nicSignature); without a view, always.
 */
export class NicInventory {
  private cache?: { sig: string; nics: Nic[] };

  constructor(private readonly ip: Ip, private readonly order?: NicOrder) {}

  async nics(view: Iterable<IpLink> | undefined): Promise<Nic[]> {
    const sig = view ? nicSignature(view) : undefined;
    if (sig === undefined || this.cache?.sig !== sig) {
      const nics = await discoverNics(this.ip, this.order);
      this.cache = sig === undefined ? undefined : { sig, nics };
      return nics.map((n) => ({ ...n }));
    }
    return this.cache.nics.map((n) => ({ ...n }));
  }
}
