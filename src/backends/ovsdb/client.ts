// OVSDB client (RFC 7047 + ovsdb-server extensions): methods, transactions whose every
// result is checked, monitors that keep a Replica, and the next_cfg/cur_cfg apply barrier.

import { Session, type SessionOptions } from './session.js';
import { OvsdbError } from './errors.js';
import { decodeRow, parseSchema, type DbSchema, type PlainRow } from './datum.js';
import { Replica, type ChangeListener, type RowChange } from './replica.js';
import { bumpNextCfg, encodeOp, select, type Condition, type Op } from './ops.js';

/**
 * A clustered (RAFT) database: the client monitors the server's `_Server` database and leaves a
 * member that is cut off from the cluster (`connected` false), or, with leaderOnly, one that is
 * not the leader, for the next target (as OVS's own IDL does). A follower would forward a write
 * to the leader, but a writer on the leader learns of a lost leadership at once.
 */
export interface ClusterOptions {
  db: string;
  leaderOnly: boolean;
}

export type ClientOptions = SessionOptions & { cluster?: ClusterOptions };

/** Pure: whether a server whose `_Server.Database` rows are `rows` serves `o.db` as the client wants. */
export function memberUsable(rows: readonly Record<string, unknown>[], o: ClusterOptions): boolean {
  const row = rows.find((r) => r.name === o.db);
  if (!row || row.model !== 'clustered') return true;
  return row.connected === true && (!o.leaderOnly || row.leader === true);
}

/** What a transact returns per operation, decoded: insert → uuid, select → rows, update/mutate/delete → count. */
export interface OpResult {
  uuid?: string;
  rows?: PlainRow[];
  count?: number;
}

/** Per table: the columns to monitor (empty or undefined = all), or a request with a `where` condition (monitor_cond only). */
export type MonitorSpec = Record<string, string[] | undefined | { columns?: string[]; where?: Condition[] }>;

const OVS_DB = 'Open_vSwitch';

export class Monitor {
  /** 'monitor_cond' unless the server only knows plain 'monitor'. */
  method: 'monitor_cond' | 'monitor' = 'monitor_cond';
  private listeners = new Set<ChangeListener>();
  private waiters = new Set<() => void>();
  private cancelled = false;

  /** @internal */
  constructor(
    private readonly client: OvsdbClient,
    readonly id: string,
    readonly db: string,
    readonly replica: Replica,
    /** @internal */ readonly spec: MonitorSpec,
  ) {}

  /** Hears every batch of row changes (notifications, and resyncs after a reconnect). */
  onChange(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Resolves once `pred(replica)` holds, checking now and after every change; rejects
   * after timeoutMs with the given error kind.
   */
  waitFor(pred: (r: Replica) => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    if (pred(this.replica)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred(this.replica)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new OvsdbError('request-timeout', `${what} not reached within ${timeoutMs} ms`, { db: this.db }));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Resolves when the replica reflects everything the server has committed so far (a round trip after all earlier notifications). */
  async synced(): Promise<void> {
    // The server sends notifications before the reply to any later request on the same
    // connection, so once an echo comes back every earlier update has been applied.
    await this.client.echo();
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.client._forget(this);
    try {
      await this.client.session.request('monitor_cancel', [this.id]);
    } catch (e) {
      if (!OvsdbError.is(e, 'disconnected') && !OvsdbError.is(e, 'closed')) throw e;
    }
  }

  /** @internal */
  _emit(changes: RowChange[]): void {
    if (changes.length) {
      for (const fn of this.listeners) {
        try { fn(changes); } catch { /* a listener's bug must not break the replica */ }
      }
    }
    for (const w of [...this.waiters]) w();
  }
}

export class OvsdbClient {
  private schemas = new Map<string, DbSchema>();
  private monitors = new Map<string, Monitor>();
  private nextMonitor = 1;
  private cfgMonitor?: Promise<Monitor>;

  private constructor(readonly session: Session) {
    session.onNotification((method, params) => this.onNotification(method, params));
    // Monitors die with the connection: re-issue them, and resync each replica.
    session.onReconnect(async () => {
      // The server may have been upgraded (schema converted) while we were away.
      this.schemas.clear();
      for (const m of this.monitors.values()) await this.startMonitor(m, true);
    });
  }

  /** Connects to `unix:/path` or `tcp:host:port`. */
  static async connect(target: string, opts: ClientOptions = {}): Promise<OvsdbClient> {
    const c = new OvsdbClient(await Session.open(target, opts));
    if (opts.cluster) {
      try {
        await c.followCluster(opts.cluster, Math.max(opts.connectTimeoutMs ?? 0, 10_000));
      } catch (e) {
        c.close();
        throw e;
      }
    }
    return c;
  }

  /** Stays on a usable member of a clustered database (ClusterOptions); waits for one now. */
  private async followCluster(o: ClusterOptions, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let m: Monitor | undefined;
    while (!m) {
      try {
        m = await this.monitor('_Server', { Database: ['name', 'model', 'connected', 'leader'] });
      } catch (e) {
        // A member that is still joining may drop the connection: the session moves on.
        if (!OvsdbError.is(e, 'disconnected') || Date.now() > until) throw e;
        await new Promise((r) => setImmediate(r));
        await this.session.waitConnected(Math.max(1, until - Date.now()));
      }
    }
    const mon = m;
    const usable = () => memberUsable(mon.replica.rows('Database'), o);
    mon.onChange(() => { if (!usable()) this.session.dropConnection(); });
    // Runs after the monitors are re-issued: a member found unusable is left at once.
    this.session.onReconnect(() => {
      if (!usable()) throw new OvsdbError('disconnected', `${this.session.describe()} is not a usable member of the ${o.db} cluster`, { db: o.db });
    });
    if (usable()) return;
    const up = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new OvsdbError('disconnected', `no usable member of the ${o.db} cluster among ${this.session.describeAll()} within ${timeoutMs} ms`, { db: o.db })); }, timeoutMs);
      const off = this.session.onState((isUp) => { if (isUp) { clearTimeout(timer); off(); resolve(); } });
    });
    this.session.dropConnection();
    await up;
  }

  get connected(): boolean {
    return this.session.connected;
  }

  async listDbs(): Promise<string[]> {
    return (await this.session.request('list_dbs', [])) as string[];
  }

  /** The database schema (normalised; cached per connection lifetime of the client). */
  async getSchema(db: string): Promise<DbSchema> {
    let s = this.schemas.get(db);
    if (!s) {
      s = parseSchema(await this.session.request('get_schema', [db]));
      this.schemas.set(db, s);
    }
    return s;
  }

  async echo(...params: unknown[]): Promise<unknown[]> {
    return (await this.session.request('echo', params)) as unknown[];
  }

  /**
   * Runs the operations atomically. Every result is checked: the first failing operation
   * (or a failed commit, reported after the last operation) throws an OvsdbError whose
   * `opIndex` says which (ops.length for the commit), and nothing was committed.
   */
  async transact(db: string, ops: Op[], opts: { timeoutMs?: number } = {}): Promise<OpResult[]> {
    const schema = await this.getSchema(db);
    const wire = ops.map((op) => encodeOp(schema, op));
    const res = await this.session.request('transact', [db, ...wire], opts);
    if (!Array.isArray(res) || res.length < ops.length) {
      throw new OvsdbError('protocol', `transact: ${ops.length} ops but reply ${JSON.stringify(res)}`, { method: 'transact', db });
    }
    for (let i = 0; i < ops.length; i++) {
      const r = res[i] as Record<string, unknown> | null;
      if (r && typeof r === 'object' && 'error' in r) {
        throw OvsdbError.fromServer(r, { opIndex: i, op: ops[i]!.op, method: 'transact', db });
      }
      if (!r || typeof r !== 'object') {
        throw new OvsdbError('protocol', `transact: op ${i} has result ${JSON.stringify(r)} and no error before it`,
          { opIndex: i, op: ops[i]!.op, method: 'transact', db });
      }
    }
    const extra = res[ops.length] as Record<string, unknown> | null | undefined;
    if (extra && typeof extra === 'object' && 'error' in extra) {
      throw OvsdbError.fromServer(extra, { opIndex: ops.length, op: 'commit', method: 'transact', db });
    }
    return ops.map((op, i) => decodeResult(schema, op, res[i] as Record<string, unknown>));
  }

  /**
   * Transacts on Open_vSwitch with `next_cfg += 1` appended, then waits until
   * ovs-vswitchd reports cur_cfg >= the new next_cfg. Returns the results of `ops` only.
   */
  async transactAndWait(ops: Op[], timeoutMs: number): Promise<{ results: OpResult[]; nextCfg: number }> {
    const all = [...ops, bumpNextCfg(), select('Open_vSwitch', [], ['next_cfg'])];
    const res = await this.transact(OVS_DB, all);
    const nextCfg = res[res.length - 1]!.rows?.[0]?.next_cfg;
    if (typeof nextCfg !== 'number') throw new OvsdbError('protocol', 'transactAndWait: no next_cfg in the reply', { db: OVS_DB });
    await this.waitForCurCfg(nextCfg, timeoutMs);
    return { results: res.slice(0, ops.length), nextCfg };
  }

  /** Resolves once the Open_vSwitch row's cur_cfg >= nextCfg (ovs-vswitchd applied it); rejects with 'cur-cfg-timeout'. */
  async waitForCurCfg(nextCfg: number, timeoutMs: number): Promise<void> {
    this.cfgMonitor ??= this.monitor(OVS_DB, { Open_vSwitch: ['cur_cfg', 'next_cfg'] });
    const monitor = this.cfgMonitor;
    let m: Monitor;
    try {
      m = await monitor;
    } catch (e) {
      this.cfgMonitor = undefined;
      throw e;
    }
    const reached = (r: Replica) => r.rows('Open_vSwitch').some((row) => typeof row.cur_cfg === 'number' && row.cur_cfg >= nextCfg);
    try {
      await m.waitFor(reached, timeoutMs);
    } catch (e) {
      if (!OvsdbError.is(e, 'request-timeout')) throw e;
      const cur = m.replica.rows('Open_vSwitch')[0]?.cur_cfg;
      // The database's own value decides, not only the monitor's copy of it: a monitor that
      // missed the update (re-issued across a restart of ovsdb-server) is started again.
      const inDb = (await this.transact(OVS_DB, [select('Open_vSwitch', [], ['cur_cfg'])]))[0]?.rows?.[0]?.cur_cfg;
      if (typeof inDb === 'number' && inDb >= nextCfg) {
        if (this.cfgMonitor === monitor) { this.cfgMonitor = undefined; void m.cancel().catch(() => undefined); }
        return;
      }
      throw new OvsdbError('cur-cfg-timeout',
        `ovs-vswitchd did not apply next_cfg ${nextCfg} within ${timeoutMs} ms (cur_cfg ${String(inDb)}, ${String(cur)} as monitored); is ovs-vswitchd running?`,
        { db: OVS_DB });
    }
  }

  /**
   * Starts a monitor and resolves once its replica holds the initial snapshot. Uses
   * monitor_cond, falling back to monitor on servers that lack it (where clauses then
   * need a newer server). Survives reconnects: the replica is resynced and listeners see
   * the differences.
   */
  async monitor(db: string, tables: MonitorSpec): Promise<Monitor> {
    const schema = await this.getSchema(db);
    const columns: Record<string, string[] | undefined> = {};
    for (const [t, spec] of Object.entries(tables)) {
      if (!schema.tables[t]) throw new OvsdbError('unknown-table', `monitor: no table ${t} in ${db}`, { db });
      const cols = Array.isArray(spec) ? spec : spec?.columns;
      columns[t] = cols && cols.length ? cols : undefined;
    }
    const m = new Monitor(this, `m${this.nextMonitor++}`, db, new Replica(schema, columns), tables);
    this.monitors.set(m.id, m);
    try {
      await this.startMonitor(m, false);
    } catch (e) {
      this.monitors.delete(m.id);
      throw e;
    }
    return m;
  }

  /** @internal */
  _forget(m: Monitor): void {
    this.monitors.delete(m.id);
  }

  close(): void {
    this.monitors.clear();
    this.session.close();
  }

  private async startMonitor(m: Monitor, resync: boolean): Promise<void> {
    const reqs = (withWhere: boolean) => {
      const out: Record<string, unknown> = {};
      for (const [t, spec] of Object.entries(m.spec)) {
        const cols = Array.isArray(spec) ? spec : spec?.columns;
        const where = !Array.isArray(spec) ? spec?.where : undefined;
        const r: Record<string, unknown> = {};
        if (cols && cols.length) r.columns = cols;
        if (withWhere && where) r.where = encodeOp(m.replica.schema, { op: 'select', table: t, where }).where;
        if (!withWhere) r.select = { initial: true, insert: true, delete: true, modify: true };
        out[t] = r;
      }
      return out;
    };
    let initial: unknown;
    if (m.method === 'monitor_cond') {
      try {
        initial = await this.session.request('monitor_cond', [m.db, m.id, reqs(true)]);
      } catch (e) {
        if (!OvsdbError.is(e, 'unknown-method')) throw e;
        m.method = 'monitor';
      }
    }
    if (m.method === 'monitor') initial = await this.session.request('monitor', [m.db, m.id, reqs(false)]);
    const format = m.method === 'monitor_cond' ? 'update2' : 'update';
    const changes = resync ? m.replica.reset(initial, format) : m.replica.apply(initial, format);
    m._emit(changes);
  }

  private onNotification(method: string, params: unknown[]): void {
    let id: unknown;
    let updates: unknown;
    let format: 'update' | 'update2';
    if (method === 'update') [id, updates, format] = [params[0], params[1], 'update'];
    else if (method === 'update2') [id, updates, format] = [params[0], params[1], 'update2'];
    else if (method === 'update3') [id, updates, format] = [params[0], params[2], 'update2'];
    else return;
    const m = typeof id === 'string' ? this.monitors.get(id) : undefined;
    if (!m) return;
    m._emit(m.replica.apply(updates, format));
  }
}

function decodeResult(schema: DbSchema, op: Op, r: Record<string, unknown>): OpResult {
  const out: OpResult = {};
  if (Array.isArray(r.uuid) && typeof r.uuid[1] === 'string') out.uuid = r.uuid[1];
  if (typeof r.count === 'number') out.count = r.count;
  if (Array.isArray(r.rows)) {
    const table = 'table' in op ? schema.tables[op.table] : undefined;
    out.rows = r.rows.map((row) => decodeRow(table, row as Record<string, unknown>));
  }
  return out;
}
