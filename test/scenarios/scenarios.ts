// The scenario suite's data: records in → the host state every backend must show, in the
// contract's terms (bridges with their uplink NIC or bond, VLANs as parent + tag, tunnels as
// protocol/peer/key, guest ports, addresses, the default route). One list for every driver: a
// driver is done when all of it passes (test/scenarios/suite.ts runs it).
import { PoolBuilder } from '../../src/agent/pool-builder.js';
import type { BondMode } from '../../src/backends/contract.js';

/** Kernel features a scenario needs beyond a bridge and veths (a driver says what it lacks). */
export type Feature = 'vlan' | 'bond' | 'gre' | 'vxlan';

export const HOST_UUIDS = ['a0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-00000000000b'] as const;

/** A bridge as every backend must show it (fields left out are not part of the scenario). */
export interface ExpectedBridge {
  name: string;
  uplink?: { kind: 'nic'; device: string } | { kind: 'bond'; device: string; members: string[]; mode: BondMode };
  vlan?: { parent: string; tag: number };
  tunnels?: { protocol: 'gre' | 'vxlan'; remote: string; key: number }[];
  vifs?: string[];
  addrs?: string[];
  mtu?: number;
}

export interface ExpectedHost {
  /** Exactly these bridges are ours, nothing else. */
  bridges: ExpectedBridge[];
  defaultRoute?: { dev: string; via: string };
}

export interface Step {
  /** What changes in the records (the first step builds them). */
  change: (w: World) => void;
  /** Per host (index as in HOST_UUIDS). */
  expect: ExpectedHost[];
}

export interface Scenario {
  name: string;
  needs?: Feature[];
  /** Hosts in the pool (1 or 2): host A's eth1 is cabled to host B's eth1. */
  hosts: 1 | 2;
  steps: Step[];
}

/** The records of a scenario, and what it made (by name) for later steps. */
export interface World {
  b: PoolBuilder;
  hosts: string[];
  refs: Record<string, string>;
}

export function newWorld(n: number): World {
  const b = new PoolBuilder();
  return { b, hosts: HOST_UUIDS.slice(0, n).map((u, i) => b.host(u, `host${i + 1}`)), refs: {} };
}

const mgmt = (w: World, h = 0, ip = '10.80.0.1'): string =>
  w.refs.mgmt = w.b.physical(w.hosts[h]!, 'eth0', w.b.network('xenbr0'), {
    MAC: '02:00:00:0a:00:00', mode: 'Static', IP: ip, netmask: '255.255.255.0', gateway: '10.80.0.254', management: true,
  });

export const SCENARIOS: Scenario[] = [
  {
    name: 'management on a NIC: bridge with the NIC, address on the bridge, default route',
    hosts: 1,
    steps: [{
      change: (w) => { mgmt(w); },
      expect: [{ bridges: [{ name: 'xenbr0', uplink: { kind: 'nic', device: 'eth0' }, addrs: ['10.80.0.1/24'], mtu: 1500, vifs: [] }], defaultRoute: { dev: 'xenbr0', via: '10.80.0.254' } }],
    }, {
      change: (w) => { w.b.set('network', w.b.records.PIF[w.refs.mgmt!]!.network as string, { MTU: 1400 }); w.b.set('PIF', w.refs.mgmt!, { IP: '10.80.0.2' }); },
      expect: [{ bridges: [{ name: 'xenbr0', uplink: { kind: 'nic', device: 'eth0' }, addrs: ['10.80.0.2/24'], mtu: 1400 }], defaultRoute: { dev: 'xenbr0', via: '10.80.0.254' } }],
    }],
  },
  {
    name: 'external network with guests, seed 003: xenbr0 holds eth0 and the VIFs',
    hosts: 1,
    steps: [{
      change: (w) => {
        mgmt(w);
        const n0 = w.b.records.PIF[w.refs.mgmt!]!.network as string;
        for (const d of [1, 2, 7]) w.b.vif(w.b.vm(w.hosts[0]!, d), n0, 0, `02:00:00:0b:00:0${d}`);
      },
      expect: [{ bridges: [{ name: 'xenbr0', uplink: { kind: 'nic', device: 'eth0' }, vifs: ['vif1.0', 'vif2.0', 'vif7.0'] }], defaultRoute: { dev: 'xenbr0', via: '10.80.0.254' } }],
    }, {
      change: (w) => {
        // one guest stops; one VIF's locking is disabled (never bridged)
        const [vm1, vm2] = Object.keys(w.b.records.VM);
        w.b.set('VM', vm1!, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL', domid: -1 });
        w.b.set('VIF', (w.b.records.VM[vm2!]!.VIFs as string[])[0]!, { locking_mode: 'disabled' });
      },
      expect: [{ bridges: [{ name: 'xenbr0', uplink: { kind: 'nic', device: 'eth0' }, vifs: ['vif7.0'] }], defaultRoute: { dev: 'xenbr0', via: '10.80.0.254' } }],
    }],
  },
  {
    name: 'single-server private network: a bridge without uplink while a guest is on it',
    hosts: 1,
    steps: [{
      change: (w) => {
        const ni = w.refs.internal = w.b.network('xapi3', 1400);
        const vm = w.refs.vm = w.b.vm(w.hosts[0]!, 5);
        w.b.vif(vm, ni, 0, '02:00:00:0c:05:00');
        w.b.vif(vm, ni, 1, '02:00:00:0c:05:01', { locking_mode: 'locked', ipv4_allowed: ['192.168.3.5'] });
      },
      expect: [{ bridges: [{ name: 'xapi3', vifs: ['vif5.0', 'vif5.1'], mtu: 1400 }] }],
    }, {
      change: (w) => { w.b.set('VM', w.refs.vm!, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL', domid: -1 }); },
      expect: [{ bridges: [] }],
    }],
  },
  {
    name: 'VLAN: its own bridge on the parent\'s uplink with the tag, guests and address on it',
    needs: ['vlan'],
    hosts: 1,
    steps: [{
      change: (w) => {
        mgmt(w);
        const vnet = w.b.network('xapi1');
        w.refs.vlan = w.b.vlan(w.hosts[0]!, w.refs.mgmt!, vnet, 20, { mode: 'Static', IP: '10.80.20.1', netmask: '255.255.255.0' });
        w.b.vif(w.b.vm(w.hosts[0]!, 6), vnet, 0, '02:00:00:0d:06:00');
      },
      expect: [{
        bridges: [
          { name: 'xenbr0', uplink: { kind: 'nic', device: 'eth0' }, addrs: ['10.80.0.1/24'], vifs: [] },
          { name: 'xapi1', vlan: { parent: 'xenbr0', tag: 20 }, addrs: ['10.80.20.1/24'], vifs: ['vif6.0'] },
        ],
        defaultRoute: { dev: 'xenbr0', via: '10.80.0.254' },
      }],
    }, {
      change: (w) => {
        w.b.set('PIF', w.refs.vlan!, { currently_attached: false });
        w.b.set('VM', Object.keys(w.b.records.VM)[0]!, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL', domid: -1 });
      },
      expect: [{ bridges: [{ name: 'xenbr0', uplink: { kind: 'nic', device: 'eth0' }, addrs: ['10.80.0.1/24'] }], defaultRoute: { dev: 'xenbr0', via: '10.80.0.254' } }],
    }],
  },
  ...(['active-backup', 'balance-slb', 'lacp'] as const).map((mode): Scenario => ({
    name: `bond (${mode}): the member NICs leave their bridges for one bond uplink`,
    needs: ['bond'],
    hosts: 1,
    steps: [{
      change: (w) => {
        w.refs.s2 = w.b.physical(w.hosts[0]!, 'eth2', w.b.network('xenbr2'));
        w.refs.s3 = w.b.physical(w.hosts[0]!, 'eth3', w.b.network('xenbr3'));
      },
      expect: [{ bridges: [{ name: 'xenbr2', uplink: { kind: 'nic', device: 'eth2' } }, { name: 'xenbr3', uplink: { kind: 'nic', device: 'eth3' } }] }],
    }, {
      change: (w) => {
        const bn = w.b.network('xapi2');
        w.b.bond(w.hosts[0]!, bn, [w.refs.s2!, w.refs.s3!], mode, {}, { MAC: '02:00:00:0e:00:b0', mode: 'Static', IP: '10.80.2.1', netmask: '255.255.255.0' });
        w.b.vif(w.b.vm(w.hosts[0]!, 8), bn, 0, '02:00:00:0e:08:00');
      },
      expect: [{ bridges: [{ name: 'xapi2', uplink: { kind: 'bond', device: 'bond0', members: ['eth2', 'eth3'], mode }, addrs: ['10.80.2.1/24'], vifs: ['vif8.0'] }] }],
    }],
  })),
  ...(['vxlan', 'gre'] as const).map((protocol): Scenario => ({
    name: `cross-server private network over ${protocol}: one tunnel to the other host, guests on both`,
    needs: [protocol],
    hosts: 2,
    steps: [{
      change: (w) => {
        const nt = w.b.network('xenbr1');
        const pn = w.b.network('xapi5', 1500, { 'xcpnet-tunnel-key': '77' });
        w.hosts.forEach((h, i) => {
          const t = w.b.physical(h, 'eth1', nt, { mode: 'Static', IP: `10.81.0.${i + 1}`, netmask: '255.255.255.0' });
          w.refs[`access${i}`] = w.b.tunnel(h, t, pn, protocol);
          w.b.vif(w.b.vm(h, 10 + i), pn, 0, `02:00:00:0f:00:0${i + 1}`);
        });
      },
      expect: [0, 1].map((i) => ({
        bridges: [
          { name: 'xapi5', tunnels: [{ protocol, remote: `10.81.0.${2 - i}`, key: 77 }], vifs: [`vif${10 + i}.0`] },
          { name: 'xenbr1', uplink: { kind: 'nic' as const, device: 'eth1' }, addrs: [`10.81.0.${i + 1}/24`] },
        ],
      })),
    }, {
      // host B leaves the private network: its guest stops, its access PIF is unplugged
      change: (w) => {
        w.b.set('PIF', w.refs.access1!, { currently_attached: false });
        w.b.set('VM', Object.keys(w.b.records.VM)[1]!, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL', domid: -1 });
      },
      expect: [
        { bridges: [{ name: 'xapi5', tunnels: [], vifs: ['vif10.0'] }, { name: 'xenbr1', uplink: { kind: 'nic', device: 'eth1' } }] },
        { bridges: [{ name: 'xenbr1', uplink: { kind: 'nic', device: 'eth1' }, addrs: ['10.81.0.2/24'] }] },
      ],
    }],
  })),
];
