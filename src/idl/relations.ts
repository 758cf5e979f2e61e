// One-to-many relations: the "one" side is a ref field written by clients or rules;
// the "many" side is a DynamicRO set maintained by the database as its inverse.
import type { Relation } from './meta.js';

function rel(oneCls: string, oneField: string, manyCls: string, manyField: string): Relation {
  return { one: { cls: oneCls, field: oneField }, many: { cls: manyCls, field: manyField } };
}

export const RELATIONS: Relation[] = [
  rel('PIF', 'host', 'host', 'PIFs'),
  rel('PIF', 'network', 'network', 'PIFs'),
  rel('VIF', 'network', 'network', 'VIFs'),
  rel('VIF', 'VM', 'VM', 'VIFs'),
  rel('PIF', 'bond_slave_of', 'Bond', 'slaves'),
  rel('Bond', 'master', 'PIF', 'bond_master_of'),
  rel('VLAN', 'tagged_PIF', 'PIF', 'VLAN_slave_of'),
  rel('tunnel', 'access_PIF', 'PIF', 'tunnel_access_PIF_of'),
  rel('tunnel', 'transport_PIF', 'PIF', 'tunnel_transport_PIF_of'),
  rel('VM', 'resident_on', 'host', 'resident_VMs'),
  rel('VM', 'snapshot_of', 'VM', 'snapshots'),
  rel('VM', 'parent', 'VM', 'children'),
  rel('task', 'subtask_of', 'task', 'subtasks'),
];
