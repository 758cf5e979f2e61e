// Physical NIC discovery in a host's namespace.
//
// The rule: a link is a physical NIC when its name is `eth<N>` and it is not a device some
// switch or stack made (linkinfo kind bridge, bond, vlan, openvswitch, tun, vxlan, gre…).
// Plain hardware NICs have no kind; in the lab the NICs are veths named eth0… cabled to the
// lab switch, so `veth` counts too. Everything else (xenbrN, bondN, vifD.N, tunnels, the
// OVS internal ports) is excluded. Carrier comes from LOWER_UP; speed, duplex, driver and
// PCI data from sysfs of that namespace when present (0/'' otherwise).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Nic } from '../contract.js';
import type { Ip, IpLink } from './ip.js';

const exec = promisify(execFile);

const NOT_NICS = new Set(['bridge', 'bond', 'vlan', 'openvswitch', 'tun', 'vxlan', 'gre', 'gretap', 'geneve', 'dummy', 'macvlan', 'ipvlan', 'vrf', 'team']);

/** Pure: is this link a NIC by the rule above. */
export function isPhysicalNic(l: IpLink): boolean {
  return /^eth\d+$/.test(l.ifname) && (l.kind === undefined || l.kind === 'veth' || !NOT_NICS.has(l.kind));
}

/** Orders eth0, eth1, …, eth10 numerically. */
export const byNicNumber = (a: string, b: string) => Number(a.slice(3)) - Number(b.slice(3));

// Reads the sysfs facts of the given devices in one process (sysfs is per namespace, so it
// runs through `ip netns exec`, which mounts the namespace's own sysfs).
const SCRIPT = 'for d in "$@"; do s=/sys/class/net/$d; ' +
  'printf "%s|%s|%s|%s|%s|%s\\n" "$d" "$(cat $s/speed 2>/dev/null)" "$(cat $s/duplex 2>/dev/null)" ' +
  '"$(basename "$(readlink $s/device/driver 2>/dev/null)" 2>/dev/null)" "$(cat $s/device/vendor 2>/dev/null):$(cat $s/device/device 2>/dev/null)" ' +
  '"$(basename "$(readlink $s/device 2>/dev/null)" 2>/dev/null)"; done';

interface SysFacts { speed: number; duplex: string; driver: string; vendor: string; device: string; pci: string }

async function sysFacts(netnsName: string | undefined, devs: string[]): Promise<Map<string, SysFacts>> {
  const out = new Map<string, SysFacts>();
  if (devs.length === 0) return out;
  try {
    const argv = ['-c', SCRIPT, 'sh', ...devs];
    const { stdout } = netnsName
      ? await exec('ip', ['netns', 'exec', netnsName, 'sh', ...argv], { timeout: 10000 })
      : await exec('sh', argv, { timeout: 10000 });
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

export async function discoverNics(ip: Ip): Promise<Nic[]> {
  const links = (await ip.links()).filter(isPhysicalNic).sort((a, b) => byNicNumber(a.ifname, b.ifname));
  const facts = await sysFacts(ip.netns, links.map((l) => l.ifname));
  return links.map((l) => {
    const f = facts.get(l.ifname);
    return {
      device: l.ifname, MAC: (l.address ?? '').toLowerCase(), MTU: l.mtu, carrier: l.flags.includes('LOWER_UP'),
      speed: f?.speed ?? 0, duplex: f?.duplex === 'full' || f?.duplex === 'half' ? f.duplex : 'unknown',
      vendor_id: f?.vendor ?? '', vendor_name: '', device_id: f?.device ?? '', device_name: '',
      pci_bus_path: f?.pci ?? '', driver: f?.driver || (l.kind ?? ''),
    };
  });
}
