// Generated commands per class, as xe's (ocaml/xapi-cli-server/cli_frontend.ml): -list, -param-list, -param-get, -param-set,
// -param-add, -param-remove, -param-clear; each exists only when a field of its kind does.
import type { Rec } from '../idl/meta.js';
import { CONTROL_PARAMS, CliFailure } from './args.js';
import { req, type Command, type Env } from './command.js';
import type { Caller, CliField } from './fields.js';
import { formatRecord } from './layout.js';
import { depsOf, fieldsOf, listObjects, Records, refOf, requireField, rowsOf } from './records.js';
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

async function paramGet(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const field = requireField(fields, req(env, 'param-name'));
  const view = new Records(c);
  const deps = view.load(field.deps); // alongside the record lookup, as in paramList
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  await deps;
  const key = env.params.get('param-key');
  if (key !== undefined && field.kind === 'map') {
    const m = field.getMap?.(rec, view) ?? {};
    if (!(key in m)) throw new CliFailure(`Key ${key} not found in map`);
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

async function paramSet(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  // Check every assignment before changing anything.
  const plan: (() => Promise<void>)[] = [];
  let ref = '';
  for (const [name, value] of assignments(env)) {
    const colon = name.indexOf(':');
    if (colon > 0) {
      const f = requireField(fields, name.slice(0, colon));
      const key = name.slice(colon + 1);
      if (f.kind !== 'map' || !f.setKey) throw new CliFailure(`Field '${f.name}' is read-only.`);
      plan.push(() => f.setKey!(c, ref, key, value));
      continue;
    }
    const f = requireField(fields, name);
    if (f.set) { plan.push(() => f.set!(c, ref, value)); continue; }
    if (f.kind !== 'plain') throw new CliFailure(`Field '${f.name}' is a map or set: use param-add/param-remove, or ${f.name}:key=value for a map.`);
    throw new CliFailure(`Field '${f.name}' is read-only.`);
  }
  ref = await refOf(c, cc.cls, req(env, 'uuid'));
  for (const step of plan) await step();
}

async function paramAdd(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const f = requireField(fields, req(env, 'param-name'));
  if (!f.add) throw new CliFailure(`Field '${f.name}' cannot be added to.`);
  const ref = await refOf(c, cc.cls, req(env, 'uuid'));
  if (f.kind === 'set') {
    const key = env.params.get('param-key');
    if (key === undefined) throw new CliFailure('Required parameter not found: param-key');
    await f.add(c, ref, key);
    return;
  }
  for (const [k, v] of env.params) {
    if (k === 'uuid' || k === 'param-name' || CONTROL_PARAMS.has(k)) continue;
    await f.add(c, ref, k, v);
  }
}

async function paramRemove(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const f = requireField(fields, req(env, 'param-name'));
  if (!f.remove) throw new CliFailure(`Field '${f.name}' cannot be removed from.`);
  const key = req(env, 'param-key');
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  const view = new Records(c);
  if (f.kind === 'map' && !(key in (f.getMap?.(rec, view) ?? {}))) throw new CliFailure(`Key ${key} not found in map`);
  if (f.kind === 'set' && !(f.getSet?.(rec, view) ?? []).includes(key)) throw new CliFailure(`Key ${key} not found in set`);
  await f.remove(c, ref, key);
}

async function paramClear(env: Env, cc: CliClass, fields: CliField[]): Promise<void> {
  const c = await env.client();
  const f = requireField(fields, req(env, 'param-name'));
  const { ref, rec } = await loadOne(c, cc, req(env, 'uuid'));
  const view = new Records(c);
  if (f.kind === 'plain') {
    if (!f.set) throw new CliFailure(`Field '${f.name}' is read-only.`);
    await f.set(c, ref, '');
    return;
  }
  if (!f.remove) throw new CliFailure(`Field '${f.name}' cannot be cleared.`);
  const members = f.kind === 'map' ? Object.keys(f.getMap?.(rec, view) ?? {}) : f.getSet?.(rec, view) ?? [];
  for (const m of members) await f.remove(c, ref, m);
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
  'list': [[], ['params', '--minimal']],
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
    const extra = kind === 'list' ? fields.map((f) => f.name) : kind === 'param-set' ? fields.filter((f) => f.set).map((f) => f.name) : [];
    return {
      name: `${cc.prefix}-${kind}`,
      reqd,
      optn: [...optn, ...extra],
      help: HELP[kind]!(cc.prefix),
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
