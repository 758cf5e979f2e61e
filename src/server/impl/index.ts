// The rule modules, one per class. Each exports an ImplTable keyed by method name.
import type { ImplTable } from '../context.js';
import { hostRules } from './host.js';
import { pifRules } from './pif.js';
import { poolRules } from './pool.js';

export const RULES: ImplTable[] = [
  pifRules,
  hostRules,
  poolRules,
];
