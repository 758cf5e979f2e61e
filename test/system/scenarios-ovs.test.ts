// The scenario suite on real Open vSwitch, one ovsdb-server and ovs-vswitchd per host
// namespace. Needs root. Userspace datapath here; the VM tier runs this same file with
// XCPNET_SCENARIO_OVS_DATAPATH=system inside a guest whose kernel has the openvswitch module.
import { startOvs } from '../../src/backends/ovsdb/index.js';
import { OvsDriver } from '../../src/backends/ovs/driver.js';
import { OvsSystemSwitch } from '../../src/backends/ovs/switch.js';
import { HOST_UUIDS } from '../scenarios/scenarios.js';
import { scenarioSuite } from '../scenarios/suite.js';
import { realTarget } from './support/real-hosts.js';

const wanted = process.env.XCPNET_SCENARIO_OVS_DATAPATH ?? 'netdev';
if (wanted !== 'netdev' && wanted !== 'system') throw new Error(`XCPNET_SCENARIO_OVS_DATAPATH must be netdev or system, not ${JSON.stringify(wanted)}`);
const datapath: 'netdev' | 'system' = wanted;

scenarioSuite(realTarget({
  name: datapath === 'system' ? 'openvswitch (kernel datapath)' : 'openvswitch',
  tag: 'so',
  // Both datapaths do VLANs and bonds; tunnels need the kernel's vports only on the kernel one,
  // which runs only in the VM tier's guest, whose kernel has them.
  lacks: async () => ({}),
  async driver(ns, i, dir) {
    const ovs = await startOvs({ dir, vswitchd: true, netns: ns });
    const sw = await OvsSystemSwitch.open({ ovsdb: ovs.dbSocket, netns: ns, datapath, label: `scenario ${HOST_UUIDS[i]}` });
    return { driver: new OvsDriver(sw, HOST_UUIDS[i]), stop: () => ovs.stop() };
  },
}));
