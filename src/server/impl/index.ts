// The rule modules, one per class. Each exports its Rules, keyed by method name.
import { implsOf, type ImplTable } from '../context.js';
import { hostRules } from './host.js';
import { networkRules } from './network.js';
import { pifRules } from './pif.js';
import { poolRules } from './pool.js';
import { vifRules } from './vif.js';
import { vmRules } from './vm.js';
import { vmPowerRules } from './vm-power.js';
import { vmCopyRules } from './vm-copy.js';
import { vmMigrateRules } from './vm-migrate.js';
import { vlanRules } from './vlan.js';
import { bondRules } from './bond.js';
import { tunnelRules } from './tunnel.js';
import { dataClassRules } from './data-classes.js';

export const RULES: ImplTable[] = [
  pifRules,
  hostRules,
  poolRules,
  networkRules,
  vifRules,
  vmRules,
  vmPowerRules,
  vmCopyRules,
  vmMigrateRules,
  vlanRules,
  bondRules,
  tunnelRules,
  dataClassRules,
].map(implsOf);
