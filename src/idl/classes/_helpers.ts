// Small shorthands shared by the class files. Not a class.
import { field, stringMap, t, NULL_REF, type Field, type Message, type Param, type Role, type Ty, type Value } from '../meta.js';

export { field, stringMap, t, NULL_REF };

export function uuidField(): Field {
  return field('uuid', t.string, 'DynamicRO', 'Unique identifier of the object.', { default: '' });
}

export function nameFields(): Field[] {
  return [
    field('name_label', t.string, 'RW', 'Human-readable name.', { default: '' }),
    field('name_description', t.string, 'RW', 'Human-readable description.', { default: '' }),
  ];
}

export function otherConfig(doc = 'Free-form key/value pairs.'): Field {
  return field('other_config', stringMap, 'RW', doc, { default: {} });
}

/** A parameter; give `dflt` only for trailing optional ones. */
export function p(name: string, ty: Ty, doc?: string, dflt?: Value): Param {
  const out: Param = { name, ty };
  if (doc !== undefined) out.doc = doc;
  if (dflt !== undefined) out.default = dflt;
  return out;
}

export interface MsgOpts {
  async?: boolean;
  hidden?: boolean;
  sessionless?: boolean;
}

/** A custom message. `params` exclude the leading session argument. */
export function msg(
  name: string,
  params: Param[],
  result: Ty | null,
  errors: string[],
  role: Role,
  doc: string,
  opts: MsgOpts = {},
): Message {
  const m: Message = { name, params, result, errors, role, doc };
  if (opts.async !== undefined) m.async = opts.async;
  if (opts.hidden) m.hidden = true;
  if (opts.sessionless) m.sessionless = true;
  return m;
}

/** Errors a "make it real now" call may end with when the host's agent fails or is late. */
export const REALISE_ERRORS = ['PIF_CONFIGURATION_ERROR', 'HOST_OFFLINE', 'DEVICE_ATTACH_TIMEOUT'];

/** Checks of PIF.unplug, in order (reused by VLAN/tunnel destroy). */
export const PIF_UNPLUG_ERRORS = [
  'PIF_UNMANAGED',
  'HA_IS_ENABLED',
  'REDO_LOG_IS_ENABLED',
  'PIF_IS_MANAGEMENT_INTERFACE',
  'VIF_IN_USE',
  'PIF_DOES_NOT_ALLOW_UNPLUG',
  'PIF_HAS_FCOE_SR_IN_USE',
];

/** Checks of VLAN.destroy, in order (the unplug checks follow). */
export const VLAN_DESTROY_ERRORS = uniq([
  'PIF_ALREADY_BONDED', 'PIF_IS_MANAGEMENT_INTERFACE', 'HA_IS_ENABLED', 'REDO_LOG_IS_ENABLED', 'PIF_IS_PHYSICAL',
  ...PIF_UNPLUG_ERRORS, ...REALISE_ERRORS,
]);

/** Checks of VLAN.create, in order (reused by PIF.create_VLAN and the pool helpers). */
export const VLAN_CREATE_ERRORS = [
  'NETWORK_UNMANAGED',
  'NETWORK_ALREADY_CONNECTED',
  'PIF_UNMANAGED',
  'CANNOT_ADD_VLAN_TO_BOND_SLAVE',
  'PIF_IS_VLAN',
  'IS_TUNNEL_ACCESS_PIF',
  'NETWORK_INCOMPATIBLE_WITH_VLAN_ON_BRIDGE',
  'NETWORK_INCOMPATIBLE_WITH_VLAN_ON_SRIOV',
  'NETWORK_HAS_INCOMPATIBLE_VLAN_ON_SRIOV_PIFS',
  'VLAN_TAG_INVALID',
  'PIF_VLAN_EXISTS',
  'VLAN_IN_USE',
  'NETWORK_INCOMPATIBLE_WITH_TRUNKS',
];

/** Dedupe while keeping first occurrence (error lists are in check order). */
export function uniq(codes: string[]): string[] {
  return [...new Set(codes)];
}
