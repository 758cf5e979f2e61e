// The lab's physical layer as the topology view shows it: the switch, each host NIC's cable and
// its state, and the upstream with its gateways. The lab keeps it in <lab>/wiring.json, written
// with its state; the master serves it to logged-in users (xcpnet serve --lab-wiring).
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFile } from '../common/private-files.js';
import { compileLabPlan } from './plan.js';
import type { LabState } from './state.js';
import type { LabWiring } from '../topology/model.js';

export function wiringPath(labDir: string): string {
  return join(labDir, 'wiring.json');
}

/** Pure: the wiring of a lab as its state records it. Hosts are named as the pool names them (host1…). */
export function labWiring(state: LabState): LabWiring {
  // The switch and upstream do not depend on the lab's size; the cables come from the state.
  const plan = compileLabPlan({ name: state.name, hosts: 1, nics: 1 });
  return {
    version: 1,
    lab: state.name,
    switch: { name: plan.switch.bridge },
    upstream: {
      name: 'upstream', port: plan.upstream.cable.port,
      gateways: plan.upstream.ifaces.map((i) => ({ vlan: i.vlan, address: `${i.address}/${i.prefixLen}` })),
    },
    cables: state.hosts.flatMap((h) => h.nics.map((n) => ({ host: h.name, device: n.device, port: n.port, state: n.cable }))),
  };
}

/** Replaces the wiring file in one step: the master never reads half of it. */
export function saveWiring(state: LabState): void {
  const p = wiringPath(state.dir);
  const tmp = `${p}.${process.pid}.tmp`;
  writePrivateFile(tmp, `${JSON.stringify(labWiring(state))}\n`);
  renameSync(tmp, p);
}
