// Generated commands per class, as xe's (ocaml/xapi-cli-server/cli_frontend.ml): -list, -param-list, -param-get, -param-set,
// -param-add, -param-remove, -param-clear; each exists only when a field of its kind does.
import { ApiError } from '../common/api-error.js';
import type { Rec } from '../idl/meta.js';
import { CONTROL_PARAMS, CliFailure } from './args.js';
import { req, type Command, type Env } from './command.js';
import { unknownField, type Caller, type CliField } from './fields.js';
import { formatRecord } from './layout.js';
import { depsOf, fieldsOf, findField, listObjects, Records, refOf, rowsOf } from './records.js';
import { CLI_CLASSES, type CliClass } from './tables.js';

/** Which generated commands a class has, from its fields. */
export function commandKinds(fields: CliField[]): string[] {
  const kinds = ['list', 'param-list', 'param-get'];
  if (fields.some((f) => f.set || f.setKey)) kinds.push('param-set');
  if (fields.some((f) => f.add)) kinds.push('param-add', 'param-remove');
  if (fields.some((f) => f.kind !== 'plain' || f.set)) kinds.push('param-clear');
  return kinds;
}

async function loadOne(c: Caller, cc: CliClass, uuid: string): Promise<{ ref: string; rec: Rec }> {
  const ref = await refOf(c, cc.cls, uuid);
  const rec = await c.call<Rec>(`${cc.cls}.get_record`, ref);
  return { ref, rec };
}

async function paramList(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const shown = fields.filter((f) => !f.hidden);
  const view = new Records(c);
  view.computed = new Map();
  // The other classes do not depend on the record: fetch them while it is looked up
  // (load never rejects, so nothing is left unhandled when the lookup fails).
  const deps = view.load(depsOf(shown));
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  await Promise.all([
    deps,
    ...shown.filter((f) => f.expensive && f.compute).map(async (f) => { view.computed!.set(f.name, await f.compute!(c, ref, rec)); }),
  ]);
  env.out(formatRecord(rowsOf(rec, view, shown, false)));
}

/**
 * The field a param-get/add/remove/clear names: as the real xe, a name the class lacks is the raw
 * error "Missing parameter" (not an API error code, so printed as code and parameters).
 */
function lookupField(fields: CliField[], name: string): CliField {
  const f = findField(fields, name);
  if (f === undefined) throw new ApiError('Missing parameter', [name]);
  return f;
}

async function paramGet(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const view = new Records(c);
  const named = findField(fields, req(env, 'param-name'));
  const deps = view.load(named?.deps ?? []); // alongside the record lookup, as in paramList
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  await deps;
  const field = lookupField(fields, req(env, 'param-name'));
  const key = env.params.get('param-key');
  if (key !== undefined && field.kind === 'map') {
    const m = field.getMap?.(rec, view) ?? {};
    if (!Object.hasOwn(m, key)) throw new CliFailure(`Key ${key} not found in map`);
    env.out(`${m[key]}\n`);
    return;
  }
  const value = field.expensive && field.compute ? await field.compute(c, ref, rec) : field.get(rec, view);
  env.out(`${value}\n`);
}

/** Parameters of param-set that name fields (everything but uuid and the switches). */
function assignments(env: Env): [string, string][] {
  return [...env.params].filter(([k]) => k !== 'uuid' && !CONTROL_PARAMS.has(k));
}

/** The longest field of `kind` whose name and a dash start `name` (the legacy `map-key=value`). */
function legacyField(fields: CliField[], kind: 'map' | 'set', name: string): CliField | undefined {
  return fields.filter((f) => f.kind === kind && name.startsWith(`${f.name}-`)).sort((a, b) => b.name.length - a.name.length)[0];
}

/**
 * What a param-set argument names, as the real xe reads it: a field, `map:key`, or the legacy
 * `map-key` (the longest map whose name and a dash start it, else such a set).
 */
function assignmentTarget(fields: CliField[], name: string): { field: CliField; key?: string } {
  const exact = findField(fields, name);
  if (exact) return { field: exact };
  const colon = name.indexOf(':');
  if (colon >= 0) {
    const f = findField(fields, name.slice(0, colon));
    if (!f) throw unknownField(name.slice(0, colon), fields.map((x) => x.name));
    if (f.kind === 'plain') throw new CliFailure(`Field '${f.name}' is not a set or map`);
    return { field: f, key: name.slice(colon + 1) };
  }
  const map = legacyField(fields, 'map', name);
  if (map) return { field: map, key: name.slice(map.name.length + 1) };
  const set = legacyField(fields, 'set', name);
  if (set) return { field: set, key: name.slice(set.name.length + 1) };
  // The real xe answers this with its unexpected-condition form; a typo is the user's, so it is
  // a user error naming the closest field (docs/differences.md).
  throw unknownField(name, fields.map((f) => f.name));
}

async function paramSet(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const ref = await refOf(c, cc.cls, req(env, 'uuid'));
  // Every assignment is checked before anything changes.
  const plan: (() => Promise<void>)[] = [];
  for (const [name, value] of assignments(env)) {
    const { field: f, key } = assignmentTarget(fields, name);
    if (key !== undefined && f.kind === 'set') throw new CliFailure('Cannot param-set on set fields');
    if (key !== undefined) {
      if (!f.setKey) throw new CliFailure(`Map field '${f.name}' is read-only.`);
      plan.push(() => f.setKey!(c, ref, key, value));
    } else if (f.set) plan.push(() => f.set!(c, ref, value));
    else if (f.kind === 'map' && f.setKey) throw new CliFailure(`Field '${name}' is a map or set. use the 'name:key=value' syntax.`);
    else throw new CliFailure(`Field '${name}' is read-only.`);
  }
  for (const step of plan) await step();
}

async function paramAdd(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const ref = await refOf(c, cc.cls, req(env, 'uuid'));
  const f = lookupField(fields, req(env, 'param-name'));
  if (f.kind === 'plain') throw new CliFailure('Can only add to parameters of type Set or Map');
  if (!f.add) throw new CliFailure('Parameter is read-only');
  if (f.kind === 'set') {
    const key = env.params.get('param-key');
    if (key === undefined) throw new CliFailure('When adding a key to a set, use the syntax: *-param-add param-name=<name> param-key=<key>');
    await f.add(c, ref, key);
    return;
  }
  for (const [k, v] of env.params) {
    if (k === 'uuid' || k === 'param-name' || k === 'param-key' || CONTROL_PARAMS.has(k)) continue;
    await f.add(c, ref, k, v);
  }
}

async function paramRemove(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  const f = lookupField(fields, req(env, 'param-name'));
  const key = req(env, 'param-key');
  if (f.kind === 'plain') throw new CliFailure('Can only remove from parameters of type Set or Map');
  if (!f.remove) throw new CliFailure('Cannot remove parameters from read-only map');
  const view = new Records(c);
  if (f.kind === 'map' && !Object.hasOwn(f.getMap?.(rec, view) ?? {}, key)) throw new CliFailure(`Key ${key} is not in map`);
  if (f.kind === 'set' && !(f.getSet?.(rec, view) ?? []).includes(key)) throw new CliFailure(`Key ${key} is not in the set`);
  await f.remove(c, ref, key);
}

async function paramClear(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  const f = lookupField(fields, req(env, 'param-name'));
  const view = new Records(c);
  if (f.kind !== 'plain' && f.remove) {
    const members = f.kind === 'map' ? Object.keys(f.getMap?.(rec, view) ?? {}) : f.getSet?.(rec, view) ?? [];
    for (const m of members) await f.remove(c, ref, m);
    return;
  }
  if (!f.set) throw new CliFailure('Can only clear RW parameters');
  try {
    await f.set(c, ref, '');
  } catch {
    throw new CliFailure('Cannot clear this parameter');
  }
}

const HELP: Record<string, (p: string) => string> = {
  'list': (p) => `List the ${p} objects; any field=value (or map:key=value, set:contains=value) filters them.`,
  'param-list': (p) => `Show every field of one ${p} object.`,
  'param-get': (p) => `Show one field of a ${p} object (one key of a map with param-key).`,
  'param-set': (p) => `Set fields of a ${p} object (field=value, map:key=value).`,
  'param-add': (p) => `Add a member to a set field, or key=value pairs to a map field, of a ${p} object.`,
  'param-remove': (p) => `Remove a member or key from a set or map field of a ${p} object.`,
  'param-clear': (p) => `Empty a set or map field (or blank a writable field) of a ${p} object.`,
};

const PARAMS: Record<string, [string[], string[]]> = {
  'list': [[], ['params']],
  'param-list': [['uuid'], []],
  'param-get': [['uuid', 'param-name'], ['param-key']],
  'param-set': [['uuid'], []],
  'param-add': [['uuid', 'param-name'], ['param-key']],
  'param-remove': [['uuid', 'param-name', 'param-key'], []],
  'param-clear': [['uuid', 'param-name'], []],
};

type Runner = (env: Env, cc: CliClass, fields: CliField[]) => Promise<void>;
const RUN: Record<string, Runner> = {
  'list': async (env, cc) => env.out(await listObjects(await env.client(), cc, env.params)),
  'param-list': paramList,
  'param-get': paramGet,
  'param-set': paramSet,
  'param-add': paramAdd,
  'param-remove': paramRemove,
  'param-clear': paramClear,
};

export function classCommands(cc: CliClass, fields: CliField[]): Command[] {
  return commandKinds(fields).map((kind) => {
    const [reqd, optn] = PARAMS[kind]!;
    // The parameters the real xe lists (xcpnet has no database: parameter): every field and
    // set:contains filter for a list, the settable fields and map: prefixes for param-set.
    const shown = fields.filter((f) => !f.hidden);
    const extra = kind === 'list' ? [...shown.map((f) => f.name), ...shown.filter((f) => f.kind === 'set').map((f) => `${f.name}:contains`)]
      : kind === 'param-set' ? [...shown.filter((f) => f.set).map((f) => f.name), ...shown.filter((f) => f.setKey).map((f) => `${f.name}:`)] : [];
    return {
      name: `${cc.prefix}-${kind}`,
      reqd,
      optn: [...optn, ...extra],
      help: kind === 'param-clear'
        ? `${HELP[kind]!(cc.prefix)} param-name: ${shown.filter((f) => f.kind !== 'plain' || f.set).map((f) => f.name).join(', ')}.`
        : HELP[kind]!(cc.prefix),
      run: (env: Env) => RUN[kind]!(env, cc, fields),
    };
  });
}

/** Every generated command of every class. */
export async function allGenerated(): Promise<Command[]> {
  const out: Command[] = [];
  for (const cc of CLI_CLASSES) out.push(...classCommands(cc, await fieldsOf(cc)));
  return out;
}

/** The generated command with this name, loading only its own class. */
export async function findGenerated(name: string): Promise<Command | undefined> {
  for (const cc of CLI_CLASSES) {
    if (!name.startsWith(`${cc.prefix}-`)) continue;
    const cmd = classCommands(cc, await fieldsOf(cc)).find((c) => c.name === name);
    if (cmd) return cmd;
  }
  return undefined;
}
