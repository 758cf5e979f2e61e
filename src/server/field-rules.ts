// The IDL's field rules (Field.check, Field.keys) and field roles, applied on every path that
// writes a field: the constructors (implicit and explicit), the implicit setters and map/set
// editors, and the explicit messages that store a field. One declaration in the class file
// serves them all, so a path cannot check a value another path lets through.
import { ApiError } from '../common/api-error.js';
import { findClass, ROLES, zeroOf, type ClassDef, type Field, type KeyRule, type Rec, type RecordsView, type Role, type Value } from '../idl/index.js';
import type { CallContext } from './context.js';

type StrMap = Record<string, Value>;
const isMap = (v: Value | undefined): v is StrMap => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The declared field `name` of class `cls` (a programming error if absent). */
export function fieldOf(cls: string, name: string): Field {
  const f = findClass(cls)?.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${cls}.${name}`);
  return f;
}

/** The rule for one key of a map field: the key itself, else the longest `prefix*`, else `*`. */
export function keyRule(f: Field, key: string): KeyRule | undefined {
  const keys = f.keys;
  if (!keys) return undefined;
  if (Object.hasOwn(keys, key)) return keys[key];
  let best: string | undefined;
  for (const k of Object.keys(keys)) {
    if (k.length > 1 && k.endsWith('*') && key.startsWith(k.slice(0, -1)) && (!best || k.length > best.length)) best = k;
  }
  return best ? keys[best] : keys['*'];
}

/** Checks one member of a set field (or a scalar field's value). */
export function checkMember(f: Field, v: Value, what = f.name): void {
  f.check?.(v, what);
}

/** Checks one key/value of a map field. */
export function checkEntry(f: Field, key: string, v: Value): void {
  keyRule(f, key)?.check?.(typeof v === 'string' ? v : String(v), key, f.name);
}

/**
 * The key rules that read other records (KeyRule.checkInDb), for every key a write changes in the
 * map field `f`, inside the writer's transaction.
 */
export function checkKeysInDb(db: RecordsView, f: Field, before: Value, after: Value): void {
  if (!f.keys || !isMap(before) || !isMap(after)) return;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const rule = keyRule(f, key);
    if (!rule?.checkInDb) continue;
    const b = before[key], a = after[key];
    if (b === a) continue;
    rule.checkInDb(db, b === undefined ? undefined : String(b), a === undefined ? undefined : String(a), key, f.name);
  }
}

/** Checks a whole value about to be stored: the scalar, every member of a set, every entry of a map. */
export function checkValue(f: Field, v: Value, what = f.name): void {
  if (f.ty.kind === 'set' && Array.isArray(v)) { for (const m of v) checkMember(f, m, what); return; }
  if (f.ty.kind === 'map' && isMap(v)) { for (const [k, x] of Object.entries(v)) checkEntry(f, k, x); return; }
  checkMember(f, v, what);
}

// ---------------------------------------------------------------- roles

/** The caller's role; a call without a session is the server's own, which may do anything. */
const roleOf = (ctx: CallContext): Role => ctx.session?.role ?? 'pool-admin';
const weaker = (a: Role, b: Role): boolean => ROLES.indexOf(a) < ROLES.indexOf(b);

function denied(ctx: CallContext, permission: string, needed: Role, what: string): never {
  const s = ctx.session!;
  throw new ApiError('RBAC_PERMISSION_DENIED', [permission, `The role ${s.role} of user ${s.user} may not ${what}; it needs ${needed}`]);
}

/** The message that changes `f` after creation, with its role; undefined when only a constructor sets it. */
export function setterOf(cls: ClassDef, f: Field): { name: string; role: Role } | undefined {
  const explicit = cls.messages.find((m) => m.name === `set_${f.name}`);
  if (explicit) return { name: `${cls.name}.set_${f.name}`, role: explicit.role };
  if (f.qual === 'RW') return { name: `${cls.name}.set_${f.name}`, role: f.writeRole ?? cls.writeRole ?? 'pool-operator' };
  return undefined;
}

/**
 * RBAC_PERMISSION_DENIED [<class>.<method>/key:<key>, …] when a write of map field `f` through
 * `method` adds, changes or removes a key whose own role is stronger than the caller's, or a key
 * the server alone writes (any session's write of it).
 */
export function checkKeyRoles(ctx: CallContext, cls: ClassDef, f: Field, before: Value | undefined, after: Value | undefined, method: string): void {
  if (!f.keys) return;
  const b = isMap(before) ? before : {};
  const a = isMap(after) ? after : {};
  for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (Object.hasOwn(b, k) && Object.hasOwn(a, k) && b[k] === a[k]) continue;
    const rule = keyRule(f, k);
    if (rule?.serverOnly && ctx.session) {
      throw new ApiError('RBAC_PERMISSION_DENIED', [`${cls.name}.${method}/key:${k}`, `${f.name}:${k} is written by the pool master alone`]);
    }
    const role = rule?.role;
    if (role && weaker(roleOf(ctx), role)) denied(ctx, `${cls.name}.${method}/key:${k}`, role, `change ${f.name}:${k}`);
  }
}

const same = (a: Value | undefined, b: Value | undefined): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The rules of a constructor's struct, or of the parameters of an explicit constructor that
 * are fields (`values`), before anything is written:
 * 1. roles: a field given a value other than its default whose setter needs a stronger role
 *    than the caller's is refused with RBAC_PERMISSION_DENIED naming that setter (VIF.create
 *    with locking_mode=locked needs what VIF.set_locking_mode needs); so is a map key with a
 *    stronger role of its own;
 * 2. each field's check, in declaration order.
 * Only fields a constructor takes are considered, unless `dynamic` (database-level introduce
 * messages, which take DynamicRO fields too).
 */
export function checkCreate(ctx: CallContext, cls: ClassDef, values: Rec, opts: { dynamic?: boolean } = {}): void {
  const given = cls.fields.filter((f) => !f.internal && (opts.dynamic || f.qual !== 'DynamicRO') && Object.hasOwn(values, f.name));
  for (const f of given) {
    const v = values[f.name];
    const setter = setterOf(cls, f);
    if (setter && weaker(roleOf(ctx), setter.role) && !same(v, f.default ?? zeroOf(f.ty))) {
      denied(ctx, setter.name, setter.role, `give ${f.name} to ${ctx.method}`);
    }
    checkKeyRoles(ctx, cls, f, {}, v, `add_to_${f.name}`);
  }
  for (const f of given) checkValue(f, values[f.name]!);
}
