// The whole datamodel, checked: every class, field and message of xapi's datamodel (the facts in
// src/idl/datamodel-facts.ts) against the IDL and the server's dispatch table. Every difference
// must be listed in docs/differences.md ("Datamodel differences"), and every entry listed there
// must still be a difference. Then every implicit message of every class is called and must work.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLASSES, findClass, NULL_REF, type ClassDef, type Ty, type Value } from '../idl/index.js';
import { XAPI_DATAMODEL } from '../idl/datamodel-facts.js';
import { enumsOf, parseDefault, parseType, roleOf, UNIMPLEMENTED, type DatamodelClass } from '../idl/datamodel.js';
import { XapiServer } from './server.js';
import { clientRecord } from './implicit.js';
import { RULES } from './impl/index.js';

const enums = enumsOf(XAPI_DATAMODEL);
let server: XapiServer;
let root: string;
before(() => {
  server = new XapiServer({ dbPath: ':memory:', impls: RULES });
  root = server.sessions.open('root', 'pool-admin', 'datamodel-test');
});
after(() => server.close());

/** A type as one comparable string (enum values in any order). */
function tyKey(ty: Ty): string {
  switch (ty.kind) {
    case 'enum': return `enum ${ty.name} {${[...ty.values].sort().join(',')}}`;
    case 'ref': return `${ty.cls} ref`;
    case 'record': return `${ty.cls} record`;
    case 'set': return `${tyKey(ty.of)} set`;
    case 'map': return `(${tyKey(ty.key)} -> ${tyKey(ty.value)}) map`;
    default: return ty.kind;
  }
}

/** A value as one comparable string (map keys in any order). */
function valueKey(v: Value | undefined): string {
  if (v === undefined) return 'none';
  if (Array.isArray(v)) return `[${v.map(valueKey).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${k}:${valueKey(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** One difference: `kind Class.member`, with what each side says for the failure message. */
interface Difference { key: string; detail: string }

function differences(): Difference[] {
  const out: Difference[] = [];
  const add = (kind: string, cls: string, member: string, detail: string) => out.push({ key: `${kind} ${cls}.${member}`, detail });
  const modelled = new Set<string>();
  for (const c of XAPI_DATAMODEL) {
    const cls = findClass(c.name);
    if (!cls) { add('missing-class', c.name, '', 'not in the IDL'); continue; }
    modelled.add(c.name);
    compareFields(c, cls, add);
    compareMessages(c, cls, add);
  }
  for (const cls of CLASSES) if (!modelled.has(cls.name)) add('extra-class', cls.name, '', 'not in the datamodel');
  return out;
}

/** Implemented by `xcpnet serve` (serve.ts: they need its state directory and listener), not by the rules. */
const SERVED_BY_SERVE = ['host.install_server_certificate', 'host.get_server_certificate', 'pool.recover_slaves', 'pool.emergency_reset_master'];

type Add = (kind: string, cls: string, member: string, detail: string) => void;

function compareFields(c: DatamodelClass, cls: ClassDef, add: Add): void {
  const theirs = new Set(c.fields.map((f) => f[0]));
  for (const [name, type, qual, lifecycle, dflt] of c.fields) {
    const f = cls.fields.find((x) => x.name === name);
    if (!f || f.internal) { add('missing-field', c.name, name, type); continue; }
    const ty = parseType(type, enums);
    if (tyKey(ty) !== tyKey(f.ty)) add('type', c.name, name, `${tyKey(f.ty)} (xapi: ${tyKey(ty)})`);
    const q = { RW: 'RW', 'RO/constructor': 'StaticRO', 'RO/runtime': 'DynamicRO' }[qual];
    if (q !== f.qual) add('qualifier', c.name, name, `${f.qual} (xapi: ${q})`);
    if ((lifecycle === 'removed') !== !!f.removed) add('lifecycle', c.name, name, `removed: ${!!f.removed} (xapi: ${lifecycle})`);
    // Defaults are what records start with, and what the implicit constructor requires.
    if (cls.recordOnly) continue;
    if (dflt !== undefined) {
      if (valueKey(parseDefault(dflt, ty)) !== valueKey(f.default)) add('default', c.name, name, `${valueKey(f.default)} (xapi: ${dflt})`);
    } else if (f.default !== undefined && f.qual !== 'DynamicRO' && cls.create) {
      add('default-added', c.name, name, `${valueKey(f.default)} (xapi: none, so its constructor requires it)`);
    }
  }
  for (const f of cls.fields) if (!f.internal && !theirs.has(f.name)) add('extra-field', c.name, f.name, tyKey(f.ty));
}

/**
 * The signature of an implicit message, as xapi derives it from its class or field
 * (xen-api: ocaml/idl/datamodel_utils.ml): [params, result], in the datamodel's spelling.
 */
function implicitSignature(c: DatamodelClass, name: string): [Array<[string, string]>, string] {
  const C = c.name;
  const self: [string, string] = ['self', `${C} ref`];
  switch (name) {
    case 'get_record': return [[self], `${C} record`];
    case 'get_by_uuid': return [[['uuid', 'string']], `${C} ref`];
    case 'get_by_name_label': return [[['label', 'string']], `${C} ref set`];
    case 'get_all': return [[], `${C} ref set`];
    case 'get_all_records': return [[], `(${C} ref -> ${C} record) map`];
    case 'create': return [[['args', `${C} record`]], `${C} ref`];
    case 'destroy': return [[self], 'void'];
  }
  const m = /^(get|set|add_to|remove_from|add|remove)_(.+)$/.exec(name);
  const f = m && c.fields.find((x) => x[0] === m[2]);
  assert.ok(m && f, `${C}.${name} is an implicit message of a field`);
  const ty = f[1];
  const map = /^\((.+) -> (.+)\) map$/.exec(ty);
  switch (m[1]) {
    case 'get': return [[self], ty];
    case 'set': return [[self, ['value', ty]], 'void'];
    case 'add_to': return [[self, ['key', map![1]!], ['value', map![2]!]], 'void'];
    case 'remove_from': return [[self, ['key', map![1]!]], 'void'];
    default: return [[self, ['value', ty.replace(/ set$/, '')]], 'void'];
  }
}

function compareMessages(c: DatamodelClass, cls: ClassDef, add: Add): void {
  const all = [
    ...c.messages.map(([name, params, result, role, lifecycle]) => ({ name, params, result, role, lifecycle })),
    ...c.implicit.map(([name, role, lifecycle]) => {
      const [params, result] = implicitSignature(c, name);
      return { name, params, result, role, lifecycle };
    }),
  ];
  const theirs = new Set(all.map((m) => m.name));
  for (const { name, params, result, role, lifecycle } of all) {
    const m = server.findMethod(`${c.name}.${name}`);
    if (!m) { add('missing-message', c.name, name, 'not in the dispatch table'); continue; }
    const want = params.map(([n, ty]) => `${n}: ${tyKey(parseType(ty, enums))}`).join(', ');
    const got = m.params.map((p) => `${p.name}: ${tyKey(p.ty)}`).join(', ');
    if (want !== got) add('params', c.name, name, `(${got}) (xapi: (${want}))`);
    const res = result === 'void' ? 'void' : tyKey(parseType(result, enums));
    if (res !== (m.result ? tyKey(m.result) : 'void')) add('result', c.name, name, `${m.result ? tyKey(m.result) : 'void'} (xapi: ${res})`);
    if (m.role !== roleOf(role)) add('role', c.name, name, `${m.role} (xapi: ${roleOf(role)})`);
    if ((lifecycle === 'removed') !== m.removed) add('lifecycle', c.name, name, `removed: ${m.removed} (xapi: ${lifecycle})`);
    if (m.unimplemented && !m.removed && !SERVED_BY_SERVE.includes(m.name)) add(cls.dataOnly ? 'data-only' : 'not-implemented', c.name, name, UNIMPLEMENTED);
  }
  for (const name of server.methodNames()) {
    const [prefix, message] = name.split('.') as [string, string];
    if (prefix === c.name && !theirs.has(message)) add('extra-message', c.name, message, 'not in the datamodel');
  }
}

/**
 * The listed differences: the lines of the ```datamodel-differences block, each
 * `kind Class: member, member…`; `kind every class: member, member…` (the difference of each class
 * that has it); or `data-only: Class, Class…` (every explicit message of those classes answers
 * NOT_IMPLEMENTED).
 */
function listed(): Set<string> {
  const doc = readFileSync(new URL('../../../docs/differences.md', import.meta.url), 'utf8');
  const block = /```datamodel-differences\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/differences.md has a ```datamodel-differences block');
  const out = new Set<string>();
  const lines = block[1]!.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  for (const line of lines) {
    const classes = /^data-only: (.+)$/.exec(line);
    if (classes) { for (const c of classes[1]!.split(',')) out.add(`data-only ${c.trim()}.*`); continue; }
    const every = /^([a-z-]+) every class: (.+)$/.exec(line);
    if (every) { for (const member of every[2]!.split(',')) out.add(`${every[1]} *.${member.trim()}`); continue; }
    const m = /^([a-z-]+) ([A-Za-z_]+): (.+)$/.exec(line);
    assert.ok(m, `differences line "${line}" reads "kind Class: member, member"`);
    for (const member of m[3]!.split(',').map((s) => s.trim())) out.add(`${m[1]} ${m[2]}.${member}`);
  }
  return out;
}

test('the IDL and the dispatch table differ from the datamodel only where docs/differences.md says', () => {
  const found = differences();
  // data-only classes: one entry per class covers its explicit messages.
  const dataOnly = new Set(CLASSES.filter((c) => c.dataOnly).map((c) => c.name));
  const list = listed();
  const [kindOf, classOf, memberOf] = [(k: string) => k.split(' ')[0]!, (k: string) => k.split(' ')[1]!.split('.')[0]!, (k: string) => k.split('.')[1]!];
  const covers = (entry: string, d: string) => entry === d
    || entry === `data-only ${classOf(d)}.*` && kindOf(d) === 'data-only'
    || entry === `${kindOf(d)} *.${memberOf(d)}`;
  const unlisted = found.filter((d) => ![...list].some((e) => covers(e, d.key)));
  assert.equal(unlisted.length, 0, `differences not listed in docs/differences.md:\n${unlisted.map((d) => `${d.key}: ${d.detail}`).join('\n')}`);
  const keys = new Set(found.map((d) => d.key));
  const dataOnlyListed = [...list].filter((k) => k.startsWith('data-only ')).map((k) => k.slice(10).split('.')[0]!);
  const stale = [...list].filter((e) => !keys.has(e) && !found.some((d) => covers(e, d.key)));
  assert.deepEqual(stale, [], 'listed in docs/differences.md but no longer a difference');
  assert.deepEqual(dataOnlyListed.filter((c) => !dataOnly.has(c)), [], 'listed as data-only but modelled by hand');
});

/** Runs a call as root; returns the value, or the error as ['ERROR', params…]. */
async function call(method: string, ...params: Value[]): Promise<{ value?: Value; error?: string[] }> {
  const r = await server.handle({ method, params: [root, ...params] });
  return r.ok ? { value: r.value } : { error: r.error };
}
async function ok(method: string, ...params: Value[]): Promise<Value> {
  const r = await call(method, ...params);
  assert.equal(r.error, undefined, `${method} failed: ${r.error?.join(' ')}`);
  return r.value!;
}

/** A value of the type that differs from its zero, to show that a setter stored it. */
function sample(ty: Ty): Value {
  switch (ty.kind) {
    case 'string': return 'xcpnet-sample';
    case 'int': return 7;
    case 'float': return 0.5;
    case 'bool': return true;
    case 'datetime': return '20240102T03:04:05Z';
    case 'enum': return ty.values[ty.values.length - 1]!;
    case 'ref': return NULL_REF;
    case 'set': return ty.of.kind === 'ref' ? [] : [sample(ty.of)];
    case 'map': return { [String(sample(ty.key))]: sample(ty.value) };
    case 'record': return {};
    default: return '';
  }
}

test('every implicit message works, and the explicit ones xcpnet lacks answer NOT_IMPLEMENTED', async () => {
  let calls = 0;
  for (const cls of CLASSES.filter((c) => !c.recordOnly)) {
    const C = cls.name;
    const live = (m: string) => { const x = server.findMethod(`${C}.${m}`); return x && !x.removed && !x.unimplemented ? x : undefined; };
    // An object, through the implicit constructor when there is one (every member it needs given).
    let ref: string;
    // (A modelled class's constructor has its rules: its objects are made as its rules would.)
    // A session is read by its own holder only.
    if (cls.credential) ref = root;
    else if (cls.dataOnly && cls.create && live('create')) {
      const args: Record<string, Value> = {};
      for (const f of cls.fields) if (f.qual !== 'DynamicRO') args[f.name] = f.default ?? sample(f.ty);
      ref = String(await ok(`${C}.create`, args));
    } else {
      ref = server.store.transact((tx) => tx.create(C, {}));
    }
    const rec = clientRecord(cls, server.store.get(C, ref));
    if (live('get_record')) assert.deepEqual(await ok(`${C}.get_record`, ref), rec, `${C}.get_record`);
    assert.deepEqual(Object.keys(rec).sort(), cls.fields.filter((f) => !f.internal).map((f) => f.name).sort(), `${C} record has every field`);
    calls += 2;
    if (live('get_by_uuid')) assert.equal(await ok(`${C}.get_by_uuid`, rec.uuid!), ref);
    if (live('get_all')) assert.deepEqual(await ok(`${C}.get_all`), [ref]);
    if (live('get_all_records')) assert.deepEqual(Object.keys(await ok(`${C}.get_all_records`) as object), [ref]);
    if (live('get_all_records_where')) assert.deepEqual(Object.keys(await ok(`${C}.get_all_records_where`, 'true') as object), [ref]);
    if (live('get_by_name_label')) assert.deepEqual(await ok(`${C}.get_by_name_label`, rec.name_label!), [ref]);
    for (const f of cls.fields) {
      if (live(`get_${f.name}`)) { assert.deepEqual(await ok(`${C}.get_${f.name}`, ref), rec[f.name], `${C}.get_${f.name}`); calls++; }
      // The writers of the fields that rules interpret are the rule tests' business.
      if (!f.dataOnly || !live(`set_${f.name}`)) continue;
      const v = sample(f.ty);
      await ok(`${C}.set_${f.name}`, ref, v);
      assert.deepEqual(server.store.get(C, ref)[f.name], v, `${C}.set_${f.name} stored the value`);
      calls += 2;
      if (f.ty.kind === 'map' && live(`add_to_${f.name}`)) {
        // A second key, not the sample's.
        const key = f.ty.key.kind === 'enum' ? f.ty.key.values[0]! : f.ty.key.kind === 'string' ? 'another' : 99;
        await ok(`${C}.add_to_${f.name}`, ref, key, sample(f.ty.value));
        assert.ok(Object.hasOwn(server.store.get(C, ref)[f.name] as object, String(key)), `${C}.add_to_${f.name}`);
        await ok(`${C}.remove_from_${f.name}`, ref, key);
        assert.deepEqual(server.store.get(C, ref)[f.name], v, `${C}.remove_from_${f.name}`);
        calls += 2;
      }
      if (f.ty.kind === 'set' && f.ty.of.kind !== 'ref' && live(`add_${f.name}`)) {
        await ok(`${C}.remove_${f.name}`, ref, (v as Value[])[0]!);
        assert.deepEqual(server.store.get(C, ref)[f.name], [], `${C}.remove_${f.name}`);
        await ok(`${C}.add_${f.name}`, ref, (v as Value[])[0]!);
        assert.deepEqual(server.store.get(C, ref)[f.name], v, `${C}.add_${f.name}`);
        calls += 2;
      }
    }
    // Explicit messages: the documented error, whatever the (well-typed) arguments.
    for (const msg of cls.messages) {
      const m = server.findMethod(`${C}.${msg.name}`)!;
      if (!m.unimplemented || SERVED_BY_SERVE.includes(m.name)) continue;
      const args = m.params.map((p) => (p.ty.kind === 'ref' ? ref && p.ty.cls === C ? ref : NULL_REF : sample(p.ty)));
      const r = m.sessionless ? await server.handle({ method: m.name, params: args }) : await server.handle({ method: m.name, params: [root, ...args] });
      assert.deepEqual(r.ok ? [] : r.error, m.removed ? ['MESSAGE_REMOVED'] : ['NOT_IMPLEMENTED', m.name], `${m.name} answers the documented error`);
      calls++;
    }
    if (cls.dataOnly && cls.destroy && live('destroy')) {
      await ok(`${C}.destroy`, ref);
      assert.equal(server.store.find(C, ref), undefined, `${C}.destroy`);
    }
  }
  assert.ok(calls > 1500, `${calls} calls`);
});

test('removed messages answer MESSAGE_REMOVED', async () => {
  let n = 0;
  for (const c of XAPI_DATAMODEL) {
    for (const [name, lifecycle] of [...c.messages.map((m) => [m[0], m[4]]), ...c.implicit.map((m) => [m[0], m[2]])]) {
      if (lifecycle !== 'removed') continue;
      const m = server.findMethod(`${c.name}.${name}`)!;
      const r = await server.handle({ method: m.name, params: [root, ...m.params.map((p) => sample(p.ty))] });
      assert.deepEqual(r.ok ? [] : r.error, ['MESSAGE_REMOVED'], m.name);
      n++;
    }
  }
  assert.ok(n > 50);
});
