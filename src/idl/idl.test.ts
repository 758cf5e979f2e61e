import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASSES, ERRORS, RELATIONS, ROLES, findClass, findClassInsensitive,
  type ClassDef, type Field, type Ty,
} from './index.js';

/** Every class named by a ref or record type inside ty. */
function classesIn(ty: Ty): string[] {
  switch (ty.kind) {
    case 'ref': case 'record': return [ty.cls];
    case 'set': return classesIn(ty.of);
    case 'map': return [...classesIn(ty.key), ...classesIn(ty.value)];
    default: return [];
  }
}

function allTypes(c: ClassDef): { where: string; ty: Ty }[] {
  const out: { where: string; ty: Ty }[] = [];
  for (const f of c.fields) out.push({ where: `${c.name}.${f.name}`, ty: f.ty });
  for (const m of c.messages) {
    for (const p of m.params) out.push({ where: `${c.name}.${m.name}(${p.name})`, ty: p.ty });
    if (m.result) out.push({ where: `${c.name}.${m.name} result`, ty: m.result });
  }
  return out;
}

function getField(cls: string, name: string): Field {
  const c = findClass(cls);
  assert.ok(c, `class ${cls} exists`);
  const f = c.fields.find((x) => x.name === name);
  assert.ok(f, `field ${cls}.${name} exists`);
  return f;
}

/** Members an implicit constructor must be given: StaticRO/RW, visible, no default. */
function mandatoryMembers(c: ClassDef): string[] {
  return c.fields.filter((f) => f.qual !== 'DynamicRO' && !f.internal && f.default === undefined).map((f) => f.name).sort();
}

test('class names are unique and findable', () => {
  const names = CLASSES.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const n of ['pool', 'host', 'network', 'PIF', 'PIF_metrics', 'VIF', 'VIF_metrics', 'VM', 'VLAN', 'Bond', 'tunnel', 'session', 'task', 'event']) {
    assert.equal(findClass(n)?.name, n);
  }
  assert.equal(findClass('pif'), undefined);
  assert.equal(findClassInsensitive('pif')?.name, 'PIF');
  assert.equal(findClassInsensitive('bond')?.name, 'Bond');
  assert.equal(findClassInsensitive('pif_metrics')?.name, 'PIF_metrics');
  assert.equal(findClassInsensitive('nonesuch'), undefined);
});

test('every ref/record type names a class of the model', () => {
  const known = new Set(CLASSES.map((c) => c.name));
  for (const c of CLASSES) {
    for (const { where, ty } of allTypes(c)) {
      for (const cls of classesIn(ty)) assert.ok(known.has(cls), `${where} refers to unknown class ${cls}`);
    }
  }
});

test('relations join a ref field to a DynamicRO set of refs', () => {
  const seen = new Set<string>();
  for (const r of RELATIONS) {
    const one = getField(r.one.cls, r.one.field);
    const many = getField(r.many.cls, r.many.field);
    assert.deepEqual(one.ty, { kind: 'ref', cls: r.many.cls }, `${r.one.cls}.${r.one.field} is a ref ${r.many.cls}`);
    assert.deepEqual(many.ty, { kind: 'set', of: { kind: 'ref', cls: r.one.cls } }, `${r.many.cls}.${r.many.field} is a set of ref ${r.one.cls}`);
    assert.equal(many.qual, 'DynamicRO', `${r.many.cls}.${r.many.field} is DynamicRO`);
    const key = `${r.many.cls}.${r.many.field}`;
    assert.ok(!seen.has(key), `${key} is the inverse of one relation only`);
    seen.add(key);
  }
  assert.equal(RELATIONS.length, 13);
});

test('every error a message names is registered, with well-formed entries', () => {
  for (const c of CLASSES) {
    for (const m of c.messages) {
      for (const code of m.errors) assert.ok(code in ERRORS, `${c.name}.${m.name} names unknown error ${code}`);
      assert.equal(new Set(m.errors).size, m.errors.length, `${c.name}.${m.name} lists an error twice`);
    }
  }
  for (const [code, def] of Object.entries(ERRORS)) {
    assert.match(code, /^([A-Z0-9_]+|Fault)$/, code);
    assert.ok(Array.isArray(def.params), code);
    assert.ok(def.doc.length > 0 && !def.doc.includes('\n'), `${code} has a one-line doc`);
  }
  for (const code of ['HANDLE_INVALID', 'UUID_INVALID', 'SESSION_INVALID', 'MESSAGE_METHOD_UNKNOWN', 'MESSAGE_PARAMETER_COUNT_MISMATCH',
    'MESSAGE_REMOVED', 'INTERNAL_ERROR', 'MAP_DUPLICATE_KEY', 'RBAC_PERMISSION_DENIED', 'EVENTS_LOST', 'DEVICE_ATTACH_TIMEOUT',
    'HOST_OFFLINE', 'TASK_CANCELLED', 'NOT_IMPLEMENTED']) {
    assert.ok(code in ERRORS, code);
  }
  // declared names, not what is actually sent
  assert.deepEqual(ERRORS['NETWORK_ALREADY_CONNECTED']?.params, ['network', 'connected PIF']);
  assert.deepEqual(ERRORS['SESSION_AUTHENTICATION_FAILED']?.params, []);
  assert.deepEqual(ERRORS['DEVICE_ATTACH_TIMEOUT']?.params, ['type', 'ref']);
});

test('field and message names are unique per class', () => {
  for (const c of CLASSES) {
    const f = c.fields.map((x) => x.name);
    assert.equal(new Set(f).size, f.length, `${c.name} has duplicate fields`);
    const m = c.messages.map((x) => x.name);
    assert.equal(new Set(m).size, m.length, `${c.name} has duplicate messages`);
  }
});

test('every class with objects has a DynamicRO uuid; event is a record type only', () => {
  for (const c of CLASSES) {
    if (c.recordOnly) continue;
    const u = c.fields.find((f) => f.name === 'uuid');
    assert.ok(u, `${c.name} has uuid`);
    assert.equal(u.qual, 'DynamicRO');
    assert.equal(u.ty.kind, 'string');
  }
  const ev = findClass('event');
  assert.ok(ev);
  assert.equal(ev.recordOnly, true);
  assert.equal(ev.persistent, false);
});

test('visible DynamicRO fields have defaults that fit their type', () => {
  for (const c of CLASSES) {
    for (const f of c.fields) {
      if (f.qual === 'DynamicRO' && !f.internal) assert.ok(f.default !== undefined, `${c.name}.${f.name} needs a default`);
      if (f.default === undefined) continue;
      const d = f.default;
      const where = `${c.name}.${f.name}`;
      switch (f.ty.kind) {
        case 'string': case 'datetime': case 'ref': assert.equal(typeof d, 'string', where); break;
        case 'int': assert.ok(Number.isInteger(d), where); break;
        case 'float': assert.equal(typeof d, 'number', where); break;
        case 'bool': assert.equal(typeof d, 'boolean', where); break;
        case 'enum': assert.ok(f.ty.values.includes(d as string), `${where} default is one of its enum values`); break;
        case 'set': assert.ok(Array.isArray(d), where); break;
        case 'map': assert.ok(typeof d === 'object' && d !== null && !Array.isArray(d), where); break;
        default: break;
      }
    }
  }
});

test('constructor classes have exactly the mandatory members they have in xapi', () => {
  const network = findClass('network');
  const vif = findClass('VIF');
  const vm = findClass('VM');
  assert.ok(network && vif && vm);
  assert.ok(network.create && vif.create && vm.create);
  assert.deepEqual(mandatoryMembers(network), ['other_config']);
  assert.deepEqual(mandatoryMembers(vif), ['MAC', 'MTU', 'VM', 'device', 'network', 'other_config', 'qos_algorithm_params', 'qos_algorithm_type'].sort());
  assert.deepEqual(mandatoryMembers(vm), []);
  // only these three of the modelled classes have implicit constructors
  assert.deepEqual(CLASSES.filter((c) => c.create && !c.dataOnly).map((c) => c.name).sort(), ['VIF', 'VM', 'network']);
});

test('internal and removed fields are marked', () => {
  assert.equal(getField('PIF', 'device_name').internal, true);
  assert.equal(getField('VIF', 'reserved').internal, true);
  assert.equal(getField('host', 'management_bridge').internal, true);
  assert.equal(getField('host', 'management_address_type').internal, true);
  assert.equal(getField('VIF', 'metrics').removed, true);
  for (const cls of ['PIF_metrics', 'VIF_metrics']) {
    assert.equal(getField(cls, 'io_read_kbs').removed, true);
    assert.equal(getField(cls, 'io_write_kbs').removed, true);
    assert.notEqual(findClass(cls)?.removed, true);
  }
});

test('messages: optional params trail, roles are valid, flags match xapi', () => {
  for (const c of CLASSES) {
    for (const m of c.messages) {
      const where = `${c.name}.${m.name}`;
      assert.ok((ROLES as readonly string[]).includes(m.role), `${where} role`);
      let optional = false;
      for (const p of m.params) {
        if (p.default !== undefined) optional = true;
        else assert.ok(!optional, `${where}: mandatory ${p.name} after an optional one`);
      }
      // As xapi's datamodel flags them: of these two classes only event.register and
      // event.unregister keep the default (Session, Async).
      const asyncEvent = c.name === 'event' && (m.name === 'register' || m.name === 'unregister');
      if (c.name === 'session' || (c.name === 'event' && !asyncEvent)) assert.equal(m.async, false, `${where} has no Async form`);
      if (asyncEvent) assert.notEqual(m.async, false, `${where} has an Async form`);
    }
  }
  const msg = (cls: string, name: string) => {
    const m = findClass(cls)?.messages.find((x) => x.name === name);
    assert.ok(m, `${cls}.${name} exists`);
    return m;
  };
  const login = msg('session', 'login_with_password');
  assert.equal(login.sessionless, true);
  assert.deepEqual(login.params.map((p) => [p.name, p.default]), [['uname', undefined], ['pwd', undefined], ['version', '1.1'], ['originator', '']]);
  assert.equal(msg('host', 'management_disable').async, false);
  assert.equal(msg('host', 'local_management_reconfigure').async, false);
  assert.notEqual(msg('host', 'get_management_interface').async, false);
  assert.notEqual(msg('host', 'get_server_certificate').async, false);
  assert.notEqual(msg('VLAN', 'create').async, false);
  const report = msg('host', 'report_network_state');
  assert.equal(report.hidden, true);
  assert.equal(report.role, 'pool-admin');
  assert.deepEqual(report.params.map((p) => p.name), ['host', 'generation', 'state']);
  assert.deepEqual(msg('event', 'from').params.map((p) => p.name), ['classes', 'token', 'timeout']);
  assert.deepEqual(msg('VLAN', 'create').errors.slice(0, 3), ['NETWORK_UNMANAGED', 'NETWORK_ALREADY_CONNECTED', 'PIF_UNMANAGED']);
  // classes with a custom destroy don't also claim the implicit one
  for (const c of CLASSES) {
    if (c.messages.some((m) => m.name === 'destroy')) assert.notEqual(c.destroy, true, `${c.name} destroy`);
  }
});

test('name namespaces of the modelled classes: network, host, VM, task', () => {
  assert.deepEqual(CLASSES.filter((c) => c.nameLabel && !c.dataOnly).map((c) => c.name).sort(), ['VM', 'host', 'network', 'task']);
  assert.ok(findClass('pool')?.fields.some((f) => f.name === 'name_label'));
  for (const c of CLASSES) assert.equal(c.persistent, !['session', 'task', 'event'].includes(c.name), c.name);
});

test('custom messages do not collide with implicit ones', () => {
  for (const c of CLASSES) {
    const implicit = new Set(['get_record', 'get_by_uuid', 'get_all', 'get_all_records', 'get_all_where', 'get_all_records_where']);
    if (c.nameLabel) implicit.add('get_by_name_label');
    if (c.create) implicit.add('create');
    if (c.destroy) implicit.add('destroy');
    for (const f of c.fields) {
      if (f.internal) continue;
      implicit.add(`get_${f.name}`);
      if (f.qual !== 'RW') continue;
      implicit.add(`set_${f.name}`);
      if (f.ty.kind === 'map') { implicit.add(`add_to_${f.name}`); implicit.add(`remove_from_${f.name}`); }
      if (f.ty.kind === 'set') { implicit.add(`add_${f.name}`); implicit.add(`remove_${f.name}`); }
    }
    for (const m of c.messages) assert.ok(!implicit.has(m.name), `${c.name}.${m.name} duplicates an implicit message`);
  }
});

test('credentials stay out of listings and events; every class with rows says whether it is streamed', () => {
  for (const c of CLASSES) {
    if (!c.recordOnly) assert.equal(typeof c.events, 'boolean', `${c.name} declares events`);
    if (c.credential) assert.ok(c.unlisted && !c.events, `${c.name} is a credential class`);
  }
  // As xapi's datamodel: session is gen_events:false, everything else modelled here streams.
  assert.deepEqual(CLASSES.filter((c) => !c.recordOnly && !c.events).map((c) => c.name), ['session']);
  assert.deepEqual(CLASSES.filter((c) => c.credential).map((c) => c.name), ['session']);
  // No record field can hold a credential.
  for (const c of CLASSES) {
    for (const f of c.fields) assert.ok(!JSON.stringify(f.ty).includes('"cls":"session"'), `${c.name}.${f.name} holds a session ref`);
  }
});
