// Opens the driver and guest driver of a host: what `xcpnet agent` and the simulated local
// host of `xcpnet serve` run. The backend is chosen as on XCP (network.conf, see backend.ts);
// outside a lab host or --manage-nics the host is the in-memory fake, which never touches the
// machine's interfaces.
import { BridgeDriver } from './bridge/driver.js';
import type { GuestDriver, HostDriver, OvnSigner } from './contract.js';
import { FakeHost } from './fake/host.js';
import { FakeGuests } from './fake/guests.js';
import { NetnsGuests, guestPrefixFor } from './linux/guests.js';
import { setSysctls, USERSPACE_TUNNEL_ARP } from './linux/sysctl.js';
import { OvsDriver } from './ovs/driver.js';
import { OvsSystemSwitch } from './ovs/switch.js';
import { OvnChassisRunner } from './ovs/ovn-chassis.js';
import { OvnDbMemberRunner } from './ovs/ovn-db-member.js';
import { HostOvnPki } from './ovs/ovn-pki.js';
import { vswitchdCtl, watchOvs, type SwitchHealth } from './ovs/health.js';
import { refuseDistroNics } from './linux/takeover.js';
import { NicOrder } from './linux/nic-order.js';
import { dirname, join } from 'node:path';

import type { NetworkBackend } from './network-conf.js';

export type { NetworkBackend } from './network-conf.js';

export interface HostSideOptions {
  /** This host's uuid (seeds the fake NICs' MACs; marks what the drivers make). */
  hostUuid: string;
  /** The real backend (default openvswitch). */
  backend?: NetworkBackend;
  /** OVSDB endpoint (default unix:/var/run/openvswitch/db.sock). */
  ovsdb?: string;
  /** The host's namespace (the lab): implies a real backend. */
  netns?: string;
  /** Manage this machine's own NICs (opt-in). */
  manageNics?: boolean;
  /** Prefix of VM namespaces (default: derived from a lab host namespace, else 'xcpnet-'). */
  guestPrefix?: string;
  /** NICs of the fake host (default 2). */
  fakeNics?: number;
  datapath?: 'auto' | 'system' | 'netdev';
  /** The agent's state directory (the NIC order is kept there, and the host's OVN key and certificate). */
  stateDir?: string;
  /** Gets this host's OVN certificate signed by the pool CA (absent: none can be had). */
  ovnSigner?: OvnSigner;
  /** Where this host's OVN key and certificate are kept (default: <stateDir>/ovn-pki). */
  ovnPkiDir?: string;
}

/**
 * `health` is there for the Open vSwitch backend: whether its daemons are up (see ovs/health.ts);
 * the agent realises nothing while they are not.
 */
export async function openHostSide(o: HostSideOptions): Promise<{ backend: HostDriver; guests: GuestDriver; health?: SwitchHealth }> {
  if (o.netns || o.manageNics) {
    const nicOrder = o.stateDir !== undefined ? new NicOrder(join(o.stateDir, 'nic-order.json')) : undefined;
    const prefix = o.guestPrefix ?? guestPrefixFor(o.netns) ?? 'xcpnet-';
    const guests = new NetnsGuests({ prefix, hostNetns: o.netns, owner: o.hostUuid });
    // The machine's own NICs (not a lab namespace): never take one the distribution configures.
    const refuseNics = o.netns !== undefined ? undefined : refuseDistroNics;
    if (o.backend === 'bridge') return { backend: await BridgeDriver.open({ netns: o.netns, host: o.hostUuid, refuseNics, nicOrder }), guests };
    const ovsdb = o.ovsdb ?? 'unix:/var/run/openvswitch/db.sock';
    const sw = await OvsSystemSwitch.open({ ovsdb, netns: o.netns, datapath: o.datapath, label: `xcpnet-agent ${o.hostUuid}`, refuseNics, nicOrder });
    // ovs-vswitchd's run directory is the database socket's (as the switch's own default).
    const rundir = ovsdb.startsWith('unix:') ? dirname(ovsdb.slice('unix:'.length)) : '/var/run/openvswitch';
    const health = watchOvs({ db: sw.client.session, ctlPath: () => vswitchdCtl(rundir) });
    await health.settled;
    if (sw.datapathType === 'netdev') {
      // Tunnels on the userspace datapath need ARP answered by the bridge only (see sysctl.ts).
      await setSysctls(o.netns, USERSPACE_TUNNEL_ARP)
        .catch((e: Error) => process.stderr.write(`warning: ARP sysctls for userspace tunnels not set: ${e.message}\n`));
    }
    const pki = new HostOvnPki(o.ovnPkiDir ?? join(o.stateDir ?? rundir, 'ovn-pki'), o.hostUuid, o.ovnSigner);
    const chassis = new OvnChassisRunner(sw.client, ovsdb, rundir, pki);
    // The cluster member's database files outlive a reboot: in the agent's state directory.
    const dbMember = new OvnDbMemberRunner(join(o.stateDir ?? rundir, 'ovn-db'), pki);
    return { backend: new OvsDriver(sw, o.hostUuid, chassis, dbMember), guests, health };
  }
  const fake = new FakeHost({ nics: o.fakeNics ?? 2, seed: o.hostUuid });
  return { backend: fake, guests: new FakeGuests(fake) };
}
