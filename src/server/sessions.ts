// Local users (scrypt-hashed passwords in SQLite) and sessions. A session is a `session`
// object (not persistent: a restart logs everyone out, and clients log in again on
// SESSION_INVALID); its role and activity live beside it in memory. A session ref is a bearer
// credential: it is never listed, never in the event stream, and never handed to anyone else.

import { createHmac, randomBytes, randomUUID, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { ApiError } from '../common/api-error.js';
import type { Store } from '../db/store.js';
import { ROLES, type Role, type Value } from '../idl/meta.js';
import type { Session } from './context.js';
import { LoginLimits } from './login-limits.js';

/** scrypt as node runs it by default (N = 2^14, r = 8, p = 1: 16 MiB, tens of ms), 32-byte key. */
export const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

/** Hashes a password with a salt, off the event loop. Injectable so tests can count calls. */
export type Hasher = (password: string, salt: string) => Promise<Buffer>;

const scryptHasher: Hasher = (password, salt) => new Promise((resolve, reject) => {
  scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, (e, key) => (e ? reject(e) : resolve(key)));
});

export interface AuthOptions {
  hasher?: Hasher;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  /** How a delayed failure waits. */
  sleep?: (ms: number) => Promise<void>;
}

interface UserRow { name: string; salt: string; hash: string; role: string }

/** Most remembered verified credentials; the memory is emptied when full. */
const VERIFIED_MAX = 1000;

export class Users {
  readonly limits: LoginLimits;
  private readonly hasher: Hasher;
  private readonly sleep: (ms: number) => Promise<void>;
  /**
   * Credentials that already passed scrypt, so a CLI that logs in for every command does not pay
   * for scrypt each time. Keyed by an HMAC under a key that never leaves this process, over user,
   * password and the stored salt and hash (a changed password never matches). Only a right
   * password can hit it, so its speed tells a guesser nothing.
   */
  private readonly verified = new Map<string, Role>();
  private readonly verifiedKey = randomBytes(32);
  /** Checked for unknown users, so they cost one scrypt like everyone else and never match. */
  private readonly dummy = { salt: randomBytes(16).toString('hex'), hash: randomBytes(SCRYPT.keylen) };

  constructor(private readonly store: Store, opts: AuthOptions = {}) {
    store.sqlite.exec('CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, role TEXT NOT NULL)');
    this.hasher = opts.hasher ?? scryptHasher;
    this.sleep = opts.sleep ?? ((ms) => sleepFor(ms));
    this.limits = new LoginLimits(opts.clock ?? Date.now);
  }

  exists(name: string): boolean {
    return !!this.store.sqlite.prepare('SELECT 1 FROM users WHERE name = ?').get(name);
  }

  /** Creates or replaces a user (an administrator's command, not reachable from the API). */
  set(name: string, password: string, role: Role): void {
    this.verified.clear();
    if (!ROLES.includes(role)) throw new Error(`unknown role ${role}; known: ${ROLES.join(', ')}`);
    const salt = randomBytes(16).toString('hex');
    const hash = scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }).toString('hex');
    this.store.sqlite.prepare('INSERT OR REPLACE INTO users (name, salt, hash, role) VALUES (?, ?, ?, ?)').run(name, salt, hash, role);
  }

  /** The user's role if the password is right, else undefined. Exactly one scrypt unless remembered. */
  async check(name: string, password: string): Promise<Role | undefined> {
    const row = this.store.sqlite.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    const key = row && createHmac('sha256', this.verifiedKey).update(`${name}\0${password}\0${row.salt}\0${row.hash}`).digest('hex');
    if (key && this.verified.has(key)) return this.verified.get(key);
    const expected = row ? Buffer.from(row.hash, 'hex') : this.dummy.hash;
    const got = await this.hasher(password, row?.salt ?? this.dummy.salt);
    if (!row || !key || got.length !== expected.length || !timingSafeEqual(got, expected)) return undefined;
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    this.verified.set(key, row.role as Role);
    return row.role as Role;
  }

  /**
   * A login's password check under the failure limits: the role, or SESSION_AUTHENTICATION_FAILED
   * (at once when the source must wait, after the user's delay for a wrong password).
   */
  async authenticate(name: string, password: string, source: string | undefined): Promise<Role> {
    if (!this.limits.admit(source)) {
      throw new ApiError('SESSION_AUTHENTICATION_FAILED', [name, 'Too many failed logins from this address; try again later']);
    }
    const role = await this.check(name, password);
    if (role) {
      this.limits.succeeded(source);
      return role;
    }
    const delay = this.limits.failed(name);
    if (delay > 0) await this.sleep(delay);
    throw new ApiError('SESSION_AUTHENTICATION_FAILED', [name, 'Authentication failure']);
  }
}

/** Makes sure `root` exists; returns the generated password when one had to be made up. */
export async function ensureRoot(users: Users, password: string | undefined): Promise<string | undefined> {
  if (users.exists('root')) {
    if (password !== undefined && (await users.check('root', password)) === undefined) users.set('root', password, 'pool-admin');
    return undefined;
  }
  const pw = password ?? randomBytes(12).toString('base64url');
  users.set('root', pw, 'pool-admin');
  return password === undefined ? pw : undefined;
}

/**
 * The writes a member's agent makes with its host credential, each for its own host only: the
 * argument that names the host, or the PIF that must be one of the host's (hostCredentialScope).
 * Besides its reports, the agent records on the master the management configuration the host's
 * root set locally while the master was out of reach (emergency mode, `xcpnet reset-networking`):
 * root on the host can change the host's own networking anyway, so this gives nothing more.
 * It also gets its host's OVN certificate signed (the CN is the host's, so it is its chassis only).
 */
export const HOST_CREDENTIAL_WRITES: ReadonlyMap<string, { host: string } | { pif: string }> = new Map([
  ['host.report_network_state', { host: 'host' }],
  ['host.sign_ovn_certificate', { host: 'host' }],
  ['host.report_server_certificate', { host: 'host' }],
  ['host.management_reconfigure', { pif: 'pif' }],
  ['PIF.reconfigure_ip', { pif: 'self' }],
]);

/**
 * RBAC_PERMISSION_DENIED unless a host credential's write acts for its own host (its arguments'
 * references must exist: checked before). `hostOfPif` gives the host of an existing PIF.
 */
export function assertHostCredentialScope(own: string, method: string, args: Record<string, Value>, hostOfPif: (pif: string) => string | undefined): void {
  const scope = HOST_CREDENTIAL_WRITES.get(method);
  if (!scope) return; // a read
  const host = 'host' in scope ? String(args[scope.host]) : hostOfPif(String(args[scope.pif]));
  if (host !== own) {
    const what = 'host' in scope ? `host ${host}` : `PIF ${String(args[scope.pif])} of ${host === undefined ? 'no host' : `host ${host}`}`;
    throw new ApiError('RBAC_PERMISSION_DENIED', [method, `The pool credential of host ${own} may act only for that host, not for ${what}`]);
  }
}

export const SESSION_LIMITS = {
  /** Live sessions per user name; root's are counted per originator (xapi: 500 and 500). */
  perGroup: 500,
  /** A session unused this long is gone (xapi's inactive_session_timeout: 24 h). */
  idleMs: 24 * 3600_000,
  /** last_active is written to the record at most this often (xapi's threshold_last_active). */
  lastActiveWriteMs: 600_000,
};

interface Live extends Session {
  group: string;
  /** Last use (ms); the record's last_active is written only every lastActiveWriteMs. */
  lastActive: number;
  written: number;
}

export interface SessionOptions {
  clock?: () => number;
  /** Told when a session ends (logout, expiry, eviction), to drop what hangs off it. */
  onEnd?: (ref: string) => void;
}

export class Sessions {
  /** Every live session, least recently used first: a use moves it to the end. */
  private readonly live = new Map<string, Live>();
  /** The same sessions by cap group (user name, or root's originator), in the same order. */
  private readonly groups = new Map<string, Map<string, Live>>();
  private readonly now: () => number;
  /** Frozen values already scanned and holding no session ref (records, cached maps). */
  private readonly clean = new WeakSet<object>();

  constructor(private readonly store: Store, private readonly users: Users, private readonly hostRef: () => string,
    private readonly opts: SessionOptions = {}) {
    this.now = opts.clock ?? Date.now;
  }

  /**
   * A login over the local unix socket is trusted without its password, as xapi trusts its own
   * socket (xapi_session.ml: a "preauth" login): the session is a local superuser's (pool-admin)
   * under the name given. Any other login must give the user's password.
   */
  async login(user: string, password: string, originator: string, source?: string, local = false): Promise<string> {
    if (local) return this.open(user, 'pool-admin', originator, undefined, true);
    const role = await this.users.authenticate(user, password, source);
    return this.open(user, role, originator);
  }

  /** A session for a trusted in-process client (the local agent), without a password. */
  open(user: string, role: Role, originator: string, host?: string, localSuperuser = user === 'root'): string {
    const now = this.now();
    this.expire(now);
    // As xapi's session GC: root's sessions are grouped by the program that opened them, so
    // a flood of CLI logins cannot push out the agent's; other users' by user name.
    const group = user === 'root' ? `originator ${originator}` : `user ${user}`;
    const members = this.groups.get(group) ?? new Map<string, Live>();
    this.groups.set(group, members);
    while (members.size >= SESSION_LIMITS.perGroup) this.end(members.keys().next().value!);
    const ref = `OpaqueRef:${randomUUID()}`;
    this.store.transact((tx) => tx.create('session', {
      this_host: this.hostRef(), this_user: user, auth_user_name: user, originator,
      is_local_superuser: localSuperuser, last_active: compactTime(now), pool: host !== undefined,
      rbac_permissions: [],
    }, ref));
    const s: Live = { ref, user, role, group, lastActive: now, written: now, ...(host !== undefined ? { host } : {}) };
    this.live.set(ref, s);
    members.set(ref, s);
    return ref;
  }

  logout(ref: string): void { this.end(ref); }

  /** When a session of the host's credential was last used (0: never, or none is live). */
  hostLastActive(host: string): number {
    let last = 0;
    for (const s of this.live.values()) if (s.host === host && s.lastActive > last) last = s.lastActive;
    return last;
  }

  /** Ends every session of the host's credential (the host left the pool). */
  endHost(host: string): void {
    for (const s of [...this.live.values()]) if (s.host === host) this.end(s.ref);
  }

  /** The live session, or SESSION_INVALID [ref]. A use counts as activity. */
  check(ref: unknown): Session {
    const now = this.now();
    this.expire(now);
    const s = typeof ref === 'string' ? this.live.get(ref) : undefined;
    if (!s) throw new ApiError('SESSION_INVALID', [String(ref)]);
    s.lastActive = now;
    this.live.delete(s.ref);
    this.live.set(s.ref, s);
    const members = this.groups.get(s.group)!;
    members.delete(s.ref);
    members.set(s.ref, s);
    if (now - s.written >= SESSION_LIMITS.lastActiveWriteMs) {
      s.written = now;
      this.store.transact((tx) => tx.update('session', s.ref, { last_active: compactTime(now) }));
    }
    return s;
  }

  /** RBAC_PERMISSION_DENIED unless the session's role is at least `needed`. */
  authorise(s: Session, needed: Role, method: string): void {
    // A host credential reads, and writes only what an agent writes (for its own host: see the
    // calls themselves); it has no user's role.
    if (s.host !== undefined) {
      if (needed === 'read-only' || HOST_CREDENTIAL_WRITES.has(method)) return;
      throw new ApiError('RBAC_PERMISSION_DENIED', [method, `A host's pool credential may not call ${method}`]);
    }
    if (ROLES.indexOf(s.role) < ROLES.indexOf(needed)) {
      throw new ApiError('RBAC_PERMISSION_DENIED', [method, `The role ${s.role} of user ${s.user} may not call ${method}; it needs ${needed}`]);
    }
  }

  /**
   * The first live session ref found anywhere in `v` (inside longer strings and map keys too)
   * other than `own`: what must never reach a client.
   */
  foreignRefIn(v: Value, own: string | undefined): string | undefined {
    let found: string | undefined;
    /** True when `x` holds any live session ref. */
    const walk = (x: Value): boolean => {
      if (found !== undefined) return true;
      if (typeof x === 'string') {
        if (!x.includes('OpaqueRef:')) return false;
        let any = false;
        for (const [ref] of x.matchAll(/OpaqueRef:[0-9a-fA-F-]{36}/g)) {
          if (!this.live.has(ref)) continue;
          any = true;
          if (ref !== own) found = ref;
        }
        return any;
      }
      if (x === null || typeof x !== 'object' || this.clean.has(x)) return false;
      let any = false;
      if (Array.isArray(x)) for (const y of x) any = walk(y) || any;
      else for (const [k, y] of Object.entries(x)) { const inKey = walk(k); any = walk(y) || inKey || any; }
      // A frozen value never changes and session refs are random, so one that holds no session
      // ref now never will: it is not scanned again.
      if (!any && Object.isFrozen(x)) this.clean.add(x);
      return any;
    };
    walk(v);
    return found;
  }

  private end(ref: string): void {
    const s = this.live.get(ref);
    if (s) {
      this.live.delete(ref);
      this.groups.get(s.group)?.delete(ref);
      if (this.groups.get(s.group)?.size === 0) this.groups.delete(s.group);
    }
    if (this.store.find('session', ref)) this.store.transact((tx) => tx.destroy('session', ref));
    this.opts.onEnd?.(ref);
  }

  /** Ends the sessions idle for longer than idleMs (they are at the front). */
  private expire(now: number): void {
    for (const s of this.live.values()) {
      if (now - s.lastActive <= SESSION_LIMITS.idleMs) return;
      this.end(s.ref);
    }
  }
}

/** A time in XenAPI's compact datetime form. */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Now, in XenAPI's compact datetime form. */
export function compactNow(): string {
  return compactTime(Date.now());
}
