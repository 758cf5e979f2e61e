// The scenario suite on real Open vSwitch (userspace datapath), one ovsdb-server and
// ovs-vswitchd per host namespace. Needs root.
import { startOvs } from '../../src/backends/ovsdb/index.js';
import { OvsDriver } from '../../src/backends/ovs/driver.js';
import { OvsSystemSwitch } from '../../src/backends/ovs/switch.js';
import { HOST_UUIDS } from '../scenarios/scenarios.js';
import { scenarioSuite } from '../scenarios/suite.js';
import { realTarget } from './support/real-hosts.js';

scenarioSuite(realTarget({
  name: 'openvswitch',
  tag: 'so',
  // The userspace datapath does VLANs, bonds and both tunnels itself: no kernel module needed.
  lacks: async () => ({}),
  async driver(ns, i, dir) {
    const ovs = await startOvs({ dir, vswitchd: true, netns: ns });
    const sw = await OvsSystemSwitch.open({ ovsdb: ovs.dbSocket, netns: ns, datapath: 'netdev', label: `scenario ${HOST_UUIDS[i]}` });
    return { driver: new OvsDriver(sw, HOST_UUIDS[i]), stop: () => ovs.stop() };
  },
}));
