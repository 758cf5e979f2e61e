// The invariant behind the session and task rules, checked over the whole dispatch table: a
// read-only user who calls every method with every plausible argument never obtains another
// session's ref (from any reply, error or task result) and changes no row but its own (its own
// session, the tasks it made). Other sessions are live meanwhile: root's, the local agent's, an
// agent user's, another read-only user's; tasks of other users exist, pending and finished.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASSES, ROLES, type Param, type Rec, type Ty, type Value } from '../../src/idl/index.js';
import { startTestPool, type TestPool } from '../support/master.js';
import { call as callAs, login, raw } from './kit.js';

let pool: TestPool;
let viewer: string;
/** Every session ref the viewer must never see. */
const foreign = new Set<string>();
const server = () => pool.master.server;
const store = () => server().store;

before(async () => {
  pool = await startTestPool({ fakeNics: 6 });
  const host = pool.master.host;
  server().hub.timeoutMs = 300;
  const call = pool.call.bind(pool);
  const pif = (device: string) => [...store().all('PIF')].find(([, p]) => p.host === host && p.device === device && p.VLAN === -1)![0];
  const newNet = (name: string) => call<string>('network.create', { name_label: name, other_config: {} });
  // A model with one object of every class.
  await call('VLAN.create', pif('eth1'), 20, await newNet('vlan net'));
  await call('PIF.reconfigure_ip', pif('eth3'), 'Static', '10.3.0.2', '255.255.255.0', '10.3.0.1', '');
  await call('tunnel.create', pif('eth3'), await newNet('tunnel net'), 'gre');
  await call('Bond.create', await newNet('bond net'), [pif('eth4'), pif('eth5')], '', 'active-backup', {});
  const vm = await call<string>('VM.create', { name_label: 'guest' });
  await call('VIF.create', { device: '0', network: await newNet('guest net'), VM: vm, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
  // Nothing else writes from here on: the agent stops, an agent-like in-process session stays.
  await pool.master.agent?.stop();
  const agentSession = server().sessions.open('root', 'pool-admin', 'xcpnet-local-agent');
  server().users.set('agent', 'agent-pw', 'pool-admin');
  server().users.set('viewer', 'viewer-pw', 'read-only');
  server().users.set('viewer2', 'viewer2-pw', 'read-only');
  const agentUser = await login(server(), 'agent', 'agent-pw', { originator: 'xcpnet-agent' });
  const viewer2 = await login(server(), 'viewer2', 'viewer2-pw');
  viewer = await login(server(), 'viewer', 'viewer-pw');
  // Tasks of others: pending ones, a finished Async one (its result holds a ref).
  await call('task.create', 'root pending', '');
  await callAs(server(), agentSession, 'task.create', 'agent pending', '');
  await callAs(server(), viewer2, 'task.create', 'viewer2 pending', '');
  const done = await callAs<string>(server(), agentUser, 'Async.network.create', { name_label: 'async', other_config: {} });
  for (let i = 0; i < 100 && store().get('task', done).status === 'pending'; i++) await new Promise((r) => setTimeout(r, 10));
  for (const [ref] of store().all('session')) if (ref !== viewer) foreign.add(ref);
  assert.ok(foreign.size >= 4, 'root, the local agent, the agent user and viewer2 are logged in');
});
after(async () => { await pool.close(); });

/** Every string inside a value, map keys included. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push(k); strings(x, out); }
  return out;
}

/** All rows, except the viewer's own session and the tasks the viewer made. */
function digest(own: Set<string>): string {
  const rows: Array<[string, string, Rec]> = [];
  for (const c of CLASSES) for (const [ref, rec] of store().all(c.name)) if (ref !== viewer && !own.has(ref)) rows.push([c.name, ref, rec]);
  return JSON.stringify(rows);
}

const refsOf = (cls: string, limit = 3) => [...store().all(cls)].map(([ref]) => ref).slice(0, limit);
const lowerNames = CLASSES.map((c) => c.name.toLowerCase());

/** Plausible values for one parameter: refs of existing objects, known uuids and names. */
function candidates(cls: string, p: Param): Value[] {
  const ty: Ty = p.ty;
  switch (ty.kind) {
    case 'ref':
      if (ty.cls === 'session') return [viewer];
      return ty.cls === 'task' ? refsOf('task', 100) : refsOf(ty.cls);
    case 'set':
      if (p.name === 'classes') return [['*'], ...lowerNames.map((n) => [n]), ...CLASSES.map((c) => [c.name]), [`session/${viewer}`]];
      if (ty.of.kind === 'ref') return [refsOf(ty.of.cls, 2)];
      return [[]];
    case 'string':
      if (p.name === 'uuid') return [...store().all(cls)].map(([, r]) => r.uuid as string);
      if (p.name === 'label') return [...new Set([...store().all(cls)].map(([, r]) => r.name_label as string))];
      if (p.name === 'expr') return ['true', 'field "uuid" = "x"'];
      if (p.name === 'class') return CLASSES.map((c) => c.name);
      if (p.name === 'ref') return [viewer, ...CLASSES.filter((c) => c.name !== 'session').flatMap((c) => refsOf(c.name, 1))];
      if (p.name === 'token') return [''];
      return ['x'];
    case 'int': case 'float': return [0];
    case 'bool': return [false];
    case 'enum': return [ty.values[0]!];
    case 'map': case 'record': return [{}];
    case 'datetime': return ['19700101T00:00:00Z'];
    case 'any': return [''];
  }
}

function product(lists: Value[][], limit: number): Value[][] {
  let out: Value[][] = [[]];
  for (const l of lists) out = out.flatMap((prefix) => l.map((v) => [...prefix, v])).slice(0, limit);
  return out;
}

test('a read-only user calling everything learns no other session and writes nothing but its own', async () => {
  const own = new Set<string>();
  const seen: string[] = [];
  const leaks: string[] = [];
  const writes: string[] = [];
  const check = (label: string, reply: unknown) => {
    for (const s of strings(reply)) {
      seen.push(s);
      for (const f of foreign) if (s.includes(f)) leaks.push(`${label} revealed a foreign session`);
    }
  };
  const tasksBefore = new Set(refsOf('task', 1000));
  let calls = 0;
  // Every message, and the Async form of those that have one (system.listMethods lists only the former).
  const names = server().methodNames().filter((n) => !['session.logout', 'session.login_with_password', 'event.next'].includes(n))
    .flatMap((n) => (server().findMethod(n)?.async ? [n, `Async.${n}`] : [n]));
  for (const name of names) {
    const m = server().findMethod(name.replace(/^Async\./, ''));
    if (!m) continue;
    const mayCall = ROLES.indexOf(m.role) === 0;
    const argLists = product(m.params.map((p) => candidates(m.cls.name, p)), mayCall ? 400 : 1);
    for (const args of argLists) {
      const before = digest(own);
      const reply = await server().handle({ method: name, params: m.sessionless ? args : [viewer, ...args] });
      calls++;
      for (const t of refsOf('task', 1000)) if (!tasksBefore.has(t)) own.add(t);
      check(`${name}(${JSON.stringify(args)})`, reply.ok ? reply.value : reply.error);
      if (digest(own) !== before) writes.push(`${name}(${JSON.stringify(args)})`);
    }
  }
  // The viewer's own Async tasks finish: their results are readable by everyone.
  for (let i = 0; i < 100 && [...own].some((t) => store().find('task', t)?.status === 'pending'); i++) await new Promise((r) => setTimeout(r, 10));
  check('task.get_all_records after Async calls', await callAs(server(), viewer, 'task.get_all_records'));
  // Legacy events: registered for everything, another user logs in and makes a task.
  await callAs(server(), viewer, 'event.register', ['*']);
  const other = await login(server(), 'viewer2', 'viewer2-pw');
  foreign.add(other);
  await callAs(server(), other, 'task.create', 'later', '');
  check('event.next', await raw(server(), 'event.next', [viewer]));
  check('event.from after a login', await callAs(server(), viewer, 'event.from', ['*'], '', 0));

  assert.deepEqual([...new Set(leaks)], []);
  assert.deepEqual(writes, []);
  assert.ok(calls > 900, `only ${calls} calls were made`);
  assert.ok(seen.some((s) => s === viewer), 'the viewer does see its own session (the check can see refs)');
  for (const f of foreign) assert.ok(store().find('session', f), 'every other session is still live');
  await callAs(server(), viewer, 'session.logout');
  assert.equal(store().find('session', viewer), undefined);
});
