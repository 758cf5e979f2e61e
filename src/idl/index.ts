// The data model as data: every class, relation and error code, plus the meta-model.
import type { ClassDef } from './meta.js';
import { poolClass } from './classes/pool.js';
import { hostClass } from './classes/host.js';
import { networkClass } from './classes/network.js';
import { PIFClass } from './classes/pif.js';
import { PIF_metricsClass } from './classes/pif-metrics.js';
import { VIFClass } from './classes/vif.js';
import { VIF_metricsClass } from './classes/vif-metrics.js';
import { VMClass } from './classes/vm.js';
import { VLANClass } from './classes/vlan.js';
import { BondClass } from './classes/bond.js';
import { tunnelClass } from './classes/tunnel.js';
import { sessionClass } from './classes/session.js';
import { taskClass } from './classes/task.js';
import { eventClass } from './classes/event.js';

export * from './meta.js';
export { RELATIONS } from './relations.js';
export { ERRORS, type ErrorDef } from './errors.js';
export {
  poolClass, hostClass, networkClass, PIFClass, PIF_metricsClass, VIFClass, VIF_metricsClass,
  VMClass, VLANClass, BondClass, tunnelClass, sessionClass, taskClass, eventClass,
};

export const CLASSES: ClassDef[] = [
  sessionClass, taskClass, eventClass, poolClass, hostClass, networkClass, PIFClass, PIF_metricsClass,
  VIFClass, VIF_metricsClass, VMClass, VLANClass, BondClass, tunnelClass,
];

/** Classes that fields refer to but that are not modelled here (refs to them stay opaque). */
export const EXTERNAL_CLASSES: string[] = ['SR', 'PCI', 'blob', 'network_sriov'];

const byName = new Map(CLASSES.map((c) => [c.name, c]));
const byLower = new Map(CLASSES.map((c) => [c.name.toLowerCase(), c]));

/** Exact wire name (`PIF`, `network`, `Bond`). */
export function findClass(name: string): ClassDef | undefined {
  return byName.get(name);
}

/** Case-insensitive lookup, for event classes (`pif`, `vif`, `bond`). */
export function findClassInsensitive(name: string): ClassDef | undefined {
  return byLower.get(name.toLowerCase());
}
