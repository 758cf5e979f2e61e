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
import { completeClass, dataOnlyClass, enumsOf } from './datamodel.js';
import { XAPI_DATAMODEL } from './datamodel-facts.js';

export * from './meta.js';
export { RELATIONS } from './relations.js';
export { ERRORS, type ErrorDef } from './errors.js';
export {
  poolClass, hostClass, networkClass, PIFClass, PIF_metricsClass, VIFClass, VIF_metricsClass,
  VMClass, VLANClass, BondClass, tunnelClass, sessionClass, taskClass, eventClass,
};

/** The classes modelled by hand: their rules live in src/server/impl. */
export const MODELLED_CLASSES: readonly ClassDef[] = [
  sessionClass, taskClass, eventClass, poolClass, hostClass, networkClass, PIFClass, PIF_metricsClass,
  VIFClass, VIF_metricsClass, VMClass, VLANClass, BondClass, tunnelClass,
];

/**
 * Every class of xapi's datamodel: the modelled ones, completed with what the datamodel publishes
 * and they do not declare, then the rest as data-only classes, in the datamodel's order.
 */
export const CLASSES: ClassDef[] = (() => {
  const enums = enumsOf(XAPI_DATAMODEL);
  const modelled = new Map(MODELLED_CLASSES.map((c) => [c.name, c]));
  const out: ClassDef[] = [];
  for (const c of XAPI_DATAMODEL) {
    const own = modelled.get(c.name);
    if (own) completeClass(own, c, enums);
    out.push(own ?? dataOnlyClass(c, enums));
    modelled.delete(c.name);
  }
  return [...out, ...modelled.values()];
})();

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
