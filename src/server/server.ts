// The XenAPI server: the method table derived from the IDL, and the one path every call
// takes — lookup, arity, decoding, session, role, reference checks, implementation — with a
// boundary that turns anything unexpected into INTERNAL_ERROR.

import { ApiError } from '../common/api-error.js';
import { Store } from '../db/store.js';
import { CLASSES, RELATIONS, findClass } from '../idl/index.js';
import type { ClassDef, Param, Rec, Ty, Value } from '../idl/meta.js';
import { NULL_REF } from '../idl/meta.js';
import type { CallContext, ImplTable, Method, ServerServices, Session } from './context.js';
import { EventHub, eventImpls } from './events.js';
import { implicitMethods } from './implicit.js';
import { HostCredentials } from './host-credentials.js';
import { assertOwnHost, membershipImpls, type JoinHooks } from './membership.js';
import { RealisationHub } from './realise.js';
import { parseReport, ReportError } from '../protocol/host-agent.js';
import { HOST_CREDENTIAL_WRITES, Sessions, Users, assertHostCredentialScope, type Hasher } from './sessions.js';
import { TaskRunner } from './tasks.js';
import { decodeValue } from './values.js';
import type { Clock } from '../common/clock.js';

/**
 * Constructor structs whose references xapi reads in another order than the class declares
 * them, so that the first bad one is the one it names: VIF.create reads the VM (its power
 * state) before the network (ocaml/xapi/xapi_vif.ml, xapi_vif_helpers.ml).
 */
const FIRST_READ: Record<string, string[]> = { VIF: ['VM'] };
const rank = (first: string[], name: string): number => (first.includes(name) ? first.indexOf(name) : first.length);

export type CallResult = { ok: true; value: Value; ty: Ty | null } | { ok: false; error: string[] };

export interface ServerOptions {
  /** SQLite path, or ':memory:'. */
  dbPath: string;
  /** Rule modules: implementations of custom messages (and overrides of implicit ones). */
  impls?: ImplTable[];
  log?: (line: string) => void;
  /** Changes kept for event.from (older tokens get EVENTS_LOST). */
  changeLogSize?: number;
  /** Milliseconds since the epoch, for session expiry and login limits (tests move it by hand). */
  clock?: () => number;
  /** The password hash (scrypt by default; tests count its calls). */
  hasher?: Hasher;
  /** How a delayed login failure waits (tests record it instead). */
  sleep?: (ms: number) => Promise<void>;
  /** The realisation hub's time: its waits' deadlines (tests move it by hand). */
  timers?: Clock;
}

/** A call as a wire hands it over; `remote` is the client's address when there is one. */
export interface ServerCall {
  method: string;
  params: Value[];
  remote?: string;
  /** The call came over the local unix socket (set by `xcpnet serve` only; see Sessions.login). */
  local?: boolean;
}

export class XapiServer implements ServerServices {
  readonly store: Store;
  readonly hub: RealisationHub;
  readonly users: Users;
  readonly sessions: Sessions;
  readonly events: EventHub;
  readonly tasks: TaskRunner;
  readonly credentials: HostCredentials;
  /** The joining host's half of pool.join (set by `xcpnet serve`). */
  joinHooks: JoinHooks | undefined;
  private readonly clock: () => number;
  private readonly methods = new Map<string, Method>();
  private toldStorageFailure = false;
  private readonly log: (line: string) => void;

  constructor(opts: ServerOptions) {
    this.log = opts.log ?? (() => {});
    this.store = new Store({ path: opts.dbPath, classes: CLASSES, relations: RELATIONS, changeLogSize: opts.changeLogSize });
    this.hub = new RealisationHub(this.store, opts.timers);
    this.clock = opts.clock ?? Date.now;
    this.credentials = new HostCredentials(this.store);
    this.users = new Users(this.store, { hasher: opts.hasher, clock: opts.clock, sleep: opts.sleep });
    this.sessions = new Sessions(this.store, this.users, () => this.masterHost(),
      { clock: opts.clock, onEnd: (ref) => this.events.forget(ref) });
    this.events = new EventHub(this.store, CLASSES);
    this.tasks = new TaskRunner(this.store, (name) => findClass(name), (v) => this.sessions.foreignRefIn(v, undefined) !== undefined);
    const impls: ImplTable = Object.assign({}, eventImpls(this.events, this.store), this.builtins(), ...(opts.impls ?? []));
    this.buildMethods(impls);
  }

  lookupClass(name: string): ClassDef | undefined { return findClass(name); }

  masterHost(): string {
    const pool = this.store.all('pool').next().value;
    return pool ? (pool[1].master) : NULL_REF;
  }

  /**
   * system.listMethods: every message by its synchronous name, as xapi lists them (its
   * generated dispatcher, ocaml/idl/ocaml_backend/gen_server.ml): no Async. variants and not
   * system.listMethods itself.
   */
  methodNames(): string[] {
    return [...this.methods.keys()].filter((n) => n !== 'system.listMethods').sort();
  }

  findMethod(name: string): Method | undefined { return this.methods.get(name); }

  private buildMethods(impls: ImplTable): void {
    for (const cls of CLASSES) {
      for (const m of implicitMethods(cls)) this.methods.set(m.name, m);
      for (const msg of cls.messages) {
        const name = `${cls.name}.${msg.name}`;
        const implicit = this.methods.get(name);
        const own = impls[name] ?? implicit?.run;
        const run = own ?? (() => { throw new ApiError('NOT_IMPLEMENTED', [name]); });
        this.methods.set(name, {
          name, cls, params: msg.params, result: msg.result, role: msg.role, async: msg.async ?? !msg.sessionless,
          sessionless: !!msg.sessionless, removed: !!cls.removed || !!msg.removed, run, unimplemented: !own,
        });
      }
    }
    // Overrides of implicit messages (network.destroy, VIF.create…) that are not declared.
    for (const [name, run] of Object.entries(impls)) {
      const m = this.methods.get(name);
      // A rule's implementation may read anything: it waits for every commit before it.
      if (m) this.methods.set(name, { ...m, run, classRead: false });
    }
    // A task belongs to its owner: every task message that acts on one (all but the getters)
    // checks it first, so a new task message cannot forget to.
    for (const m of this.methods.values()) {
      const target = m.params.find((p) => p.ty.kind === 'ref' && p.ty.cls === 'task');
      if (m.cls.name !== 'task' || m.name.startsWith('task.get_') || !target) continue;
      this.methods.set(m.name, { ...m, run: (ctx, a) => { this.tasks.mayAct(ctx, String(a[target.name])); return m.run(ctx, a); } });
    }
    this.methods.set('system.listMethods', {
      name: 'system.listMethods', cls: CLASSES[0]!, params: [], result: { kind: 'any' }, role: 'read-only',
      async: false, sessionless: true, removed: false, run: () => this.methodNames(),
    });
  }

  private builtins(): ImplTable {
    return {
      'session.login_with_password': (ctx, a) => this.sessions.login(String(a.uname), String(a.pwd), String(a.originator ?? ''), ctx.remote, ctx.local === true),
      'session.logout': (ctx) => { this.sessions.logout(ctx.session!.ref); },
      'task.cancel': (_ctx, a) => this.tasks.cancel(String(a.task)),
      'task.create': (ctx, a) => this.tasks.create(ctx, String(a.label), String(a.description)),
      'task.destroy': (_ctx, a) => this.tasks.destroy(String(a.self)),
      'task.set_status': (_ctx, a) => this.tasks.set(String(a.self), 'status', a.value!),
      'task.set_progress': (_ctx, a) => this.tasks.set(String(a.self), 'progress', a.value!),
      'task.set_result': (_ctx, a) => this.tasks.set(String(a.self), 'result', a.value!),
      'task.set_error_info': (_ctx, a) => this.tasks.set(String(a.self), 'error_info', a.value!),
      'session.slave_login': (ctx, a) => this.slaveLogin(String(a.host), String(a.psecret), ctx.remote),
      ...membershipImpls({
        sessions: this.sessions, credentials: this.credentials, masterHost: () => this.masterHost(),
        joinHooks: () => this.joinHooks, clock: this.clock,
      }),
      'host.get_bridges': (_ctx, a) => (this.hub.lastReport(String(a.host))?.bridges ?? []) as unknown as Value,
      'host.report_network_state': (ctx, a) => {
        assertOwnHost(ctx, String(a.host));
        let report;
        try { report = parseReport(a.state); } catch (e) {
          if (e instanceof ReportError) throw new ApiError('INVALID_VALUE', [e.field, JSON.stringify(e.value)?.slice(0, 200) ?? 'undefined']);
          throw e;
        }
        this.hub.report(String(a.host), Number(a.generation), report);
      },
    };
  }

  /**
   * A member's agent logs in with its host credential. Failures count against the source as a
   * user's wrong password does.
   */
  private async slaveLogin(host: string, secret: string, source: string | undefined): Promise<string> {
    const users = this.users;
    if (!users.limits.admit(source)) {
      throw new ApiError('SESSION_AUTHENTICATION_FAILED', [host, 'Too many failed logins from this address; try again later']);
    }
    if (!this.credentials.check(host, secret)) {
      users.limits.failed(`host ${host}`);
      throw new ApiError('SESSION_AUTHENTICATION_FAILED', [host, 'Authentication failure']);
    }
    users.limits.succeeded(source);
    const uuid = String(this.store.get('host', host).uuid);
    return this.sessions.open(`host ${uuid}`, 'read-only', 'xcpnet-member', host);
  }

  /**
   * The one entry point of every wire: decode, check, run, and never throw. No answer carries
   * another session's ref: the event stream and listings leave sessions out, and this is the
   * last check, over every reply and error, whatever produced it.
   */
  async handle(call: ServerCall): Promise<CallResult> {
    const caller: { session?: string; method?: Method } = {};
    let out: CallResult;
    try {
      const { value, ty } = await this.dispatch(call.method, call.params, { remote: call.remote, local: call.local === true }, caller);
      out = { ok: true, value, ty };
    } catch (e) {
      if (ApiError.is(e)) out = { ok: false, error: e.toDescription() };
      else {
        this.log(`internal error in ${call.method}: ${(e as Error)?.stack ?? e}`);
        out = { ok: false, error: ['INTERNAL_ERROR', String((e as Error)?.message ?? e)] };
      }
    }
    // Nothing is answered before every commit it could reflect is on disk: the call's own writes
    // and whatever it read (commits are applied to memory first and written in groups: durable.ts).
    const m = caller.method;
    const durable = this.store.settled(m?.classRead ? this.store.lastGenerationOf([m.cls.name]) : this.store.generation);
    if (durable) {
      try { await durable; } catch (e) {
        out = { ok: false, error: ApiError.is(e) ? e.toDescription() : ['INTERNAL_ERROR', String(e)] };
        if (!this.toldStorageFailure) { this.toldStorageFailure = true; this.log(`nothing more is acknowledged: ${out.error.join(' ')}`); }
      }
    }
    // A login's reply is the caller's own new session.
    const login = caller.method?.name === 'session.login_with_password' || caller.method?.name === 'session.slave_login';
    const own = caller.session ?? (login && out.ok ? String(out.value) : undefined);
    const leaked = this.sessions.foreignRefIn(out.ok ? out.value : out.error, own);
    // A ref the caller sent (echoed in an error) is one it already holds.
    if (leaked !== undefined && !JSON.stringify(call.params).includes(leaked)) {
      this.log(`refused a reply to ${call.method} that held another session's ref`);
      return { ok: false, error: ['INTERNAL_ERROR', 'the reply would have revealed another session'] };
    }
    return out;
  }

  private async dispatch(name: string, params: Value[], from: { remote?: string; local: boolean },
    caller: { session?: string; method?: Method }): Promise<{ value: Value; ty: Ty | null }> {
    if (!Array.isArray(params)) params = [params];
    const isAsync = name.startsWith('Async.');
    const m = this.methods.get(isAsync ? name.slice(6) : name) ?? this.methods.get(name.replace(/^([A-Za-z]+)_/, '$1.'));
    if (!m) throw new ApiError('MESSAGE_METHOD_UNKNOWN', [name]);
    caller.method = m;
    const given = m.sessionless ? params : params.slice(1);
    this.checkArity(m, given.length);
    const args: Record<string, Value> = {};
    m.params.forEach((p, i) => { args[p.name] = i < given.length ? decodeValue(given[i], p.ty, p.name, findClass) : p.default!; });
    // As xapi (Server_helpers.do_dispatch): after the parameters are read, before the session is
    // checked, naming the message without its Async. prefix.
    if (isAsync && !m.async) throw new ApiError('Fault', [`No async mode for this operation (rpc: ${m.name})`]);
    let session: Session | null = null;
    if (!m.sessionless) {
      session = this.sessions.check(params[0]);
      caller.session = session.ref;
      this.sessions.authorise(session, m.role, m.name);
    }
    if (m.removed) throw new ApiError('MESSAGE_REMOVED', []);
    const ctx: CallContext = { services: this, session, method: m.name, remote: from.remote, local: from.local };
    // A host credential's writes act for its own host: refused before anything runs (Async too).
    if (session?.host !== undefined && HOST_CREDENTIAL_WRITES.has(m.name)) {
      this.checkRefs(m.params, args);
      assertHostCredentialScope(session.host, m.name, args, (pif) => { const h = this.store.find('PIF', pif)?.host; return typeof h === 'string' ? h : undefined; });
    }
    // As in xapi, an Async call's references are read by the task, so a bad one fails the task.
    if (isAsync) {
      const checked = { ...m, run: (c: CallContext, a: Record<string, Value>) => { this.checkRefs(m.params, a); return m.run(c, a); } };
      return { value: this.tasks.start(ctx, checked, args), ty: { kind: 'ref', cls: 'task' } };
    }
    this.checkRefs(m.params, args);
    const value = await m.run(ctx, args);
    return { value: value ?? '', ty: m.result };
  }

  private checkArity(m: Method, received: number): void {
    const required = m.params.filter((p) => p.default === undefined).length;
    const hasDefaults = required < m.params.length;
    if (received < required || (!hasDefaults && received > m.params.length)) {
      throw new ApiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [m.name, required, received]);
    }
  }

  /** HANDLE_INVALID for a non-null reference that is not an object of the declared class. */
  private checkRefs(params: Param[], args: Record<string, Value>): void {
    for (const p of params) {
      const v = args[p.name];
      if (p.ty.kind === 'ref') this.checkRef(p.ty.cls, v);
      else if (p.ty.kind === 'set' && p.ty.of.kind === 'ref' && Array.isArray(v)) for (const x of v) this.checkRef(p.ty.of.cls, x);
      else if (p.ty.kind === 'record' && v && typeof v === 'object') {
        const cls = findClass(p.ty.cls);
        const refs = (cls?.fields ?? []).filter((f) => f.ty.kind === 'ref' && f.name in (v as Rec));
        const first = FIRST_READ[p.ty.cls] ?? [];
        refs.sort((a, b) => rank(first, a.name) - rank(first, b.name));
        for (const f of refs) this.checkRef((f.ty as { cls: string }).cls, (v as Rec)[f.name]);
      }
    }
  }

  private checkRef(cls: string, v: Value | undefined): void {
    if (typeof v !== 'string' || v === NULL_REF || !this.store.classes.has(cls)) return;
    if (cls === 'session') return;
    if (!this.store.find(cls, v)) throw new ApiError('HANDLE_INVALID', [cls, v]);
  }

  progress(task: string | undefined, value: number): void { this.tasks.progress(task, value); }

  /** Runs another message with its full semantics on behalf of a rule (same session). */
  async invoke(ctx: CallContext, method: string, args: Record<string, Value>): Promise<Value> {
    const m = this.methods.get(method);
    if (!m) throw new ApiError('MESSAGE_METHOD_UNKNOWN', [method]);
    this.checkRefs(m.params, args);
    const full: Record<string, Value> = {};
    for (const p of m.params) full[p.name] = p.name in args ? args[p.name]! : p.default!;
    return (await m.run({ ...ctx, method }, full)) ?? '';
  }

  close(): void { this.store.close(); }
}
