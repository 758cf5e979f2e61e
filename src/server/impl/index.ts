// The rule modules, one per class. Each exports an ImplTable keyed by method name.
import type { ImplTable } from '../context.js';

export const RULES: ImplTable[] = [];
