// Hosts for the scenario suite on real backends: a namespace per host with NICs eth0..eth3
// (veths whose far ends, up, are in a namespace of their own), eth1 of the first two hosts cabled to each other.
// Everything carries the prefix and is removed by close(), guest namespaces included.
import { mkdtemp, rm } from 'node:fs/promises';
import { Ip, netns } from '../../../src/backends/linux/ip.js';
import { NetnsGuests } from '../../../src/backends/linux/guests.js';
import type { HostDriver, Nic } from '../../../src/backends/contract.js';
import { HOST_UUIDS } from '../../scenarios/scenarios.js';
import type { Target, TargetHost } from '../../scenarios/suite.js';

export interface RealHostsOptions {
  name: string;
  /** A short tag for the namespaces (`xcpt-<tag>-<pid>-<n>-`). */
  tag: string;
  lacks: Target['lacks'];
  /** Opens the driver of host `i` in namespace `ns`; `dir` is a private directory for it. */
  driver(ns: string, i: number, dir: string): Promise<{ driver: HostDriver; stop?: () => Promise<void> }>;
}

export function realTarget(o: RealHostsOptions): Target {
  let run = 0;
  const made = new Map<TargetHost, { prefix: string; stop?: () => Promise<void>; dir: string }>();
  const macs = new Map<string, string>();
  return {
    name: o.name,
    lacks: o.lacks,
    async open(n) {
      const prefix = `xcpt-${o.tag}-${process.pid}-${run++}-`;
      const nss = Array.from({ length: n }, (_, i) => `${prefix}h${i}`);
      // The far ends of uncabled NICs live in a namespace of their own: a veth whose two ends
      // share a namespace is plumbing, not a NIC (linux/nics.ts).
      const far = `${prefix}far`;
      const hosts: TargetHost[] = [];
      try {
        for (const ns of [...nss, far]) await netns.add(ns);
        const farIp = new Ip(far);
        for (const [i, ns] of nss.entries()) {
          const ip = new Ip(ns);
          for (const k of [0, 1, 2, 3]) {
            if (k === 1 && n === 2) {
              if (i === 0) await ip.run('link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', nss[1]!);
              continue;
            }
            await ip.run('link', 'add', `eth${k}`, 'type', 'veth', 'peer', 'name', `h${i}-eth${k}`, 'netns', far);
            await farIp.setUp(`h${i}-eth${k}`);
          }
        }
        // Cabled NICs have carrier: their far ends are up (a NIC's own state is the driver's).
        for (const [i, ns] of nss.entries()) {
          const ip = new Ip(ns);
          for (const l of await ip.links()) if (/^eth\d$/.test(l.ifname)) { macs.set(`${i}/${l.ifname}`, l.address!.toLowerCase()); await ip.setUp(l.ifname); }
        }
        for (const [i, ns] of nss.entries()) {
          const dir = await mkdtemp(`/tmp/${prefix}${i}`);
          const { driver, stop } = await o.driver(ns, i, dir);
          const h: TargetHost = { driver, guests: new NetnsGuests({ prefix, hostNetns: ns, owner: HOST_UUIDS[i] }) };
          made.set(h, { prefix, stop, dir });
          hosts.push(h);
        }
        return hosts;
      } catch (e) {
        await this.close(hosts);
        for (const ns of await netns.list()) if (ns.startsWith(prefix)) await netns.del(ns);
        throw e;
      }
    },
    async close(hosts) {
      for (const h of hosts) {
        const m = made.get(h);
        try { await h.driver.close(); } catch { /* cleanup goes on */ }
        try { await m?.stop?.(); } catch { /* cleanup goes on */ }
        if (m) await rm(m.dir, { recursive: true, force: true });
        if (m) for (const ns of await netns.list()) if (ns.startsWith(m.prefix)) await netns.del(ns);
        made.delete(h);
      }
    },
    // veths: 10 Gbit/s full duplex, driver "veth", no PCI identity; the MAC the kernel gave.
    async expectedNic(i, device): Promise<Nic> {
      return {
        device, MAC: macs.get(`${i}/${device}`)!, MTU: 1500, carrier: true, speed: 10000, duplex: 'full',
        vendor_id: '', vendor_name: '', device_id: '', device_name: '', pci_bus_path: '', driver: 'veth',
      };
    },
  };
}
