// Local users (scrypt-hashed passwords in SQLite) and sessions. A session is a `session`
// object (not persistent: a restart logs everyone out, and clients log in again on
// SESSION_INVALID); its role lives beside it in memory.

import { createHash, randomBytes, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../common/api-error.js';
import type { Store } from '../db/store.js';
import { ROLES, type Role } from '../idl/meta.js';
import type { Session } from './context.js';

interface UserRow { name: string; salt: string; hash: string; role: string }

export class Users {
  /**
   * Credentials that already passed scrypt, by a SHA-256 of user and password, so a CLI that logs
   * in for every command does not pay ~50 ms each time. Wrong guesses always take the slow path.
   */
  private readonly verified = new Map<string, Role>();

  constructor(private readonly store: Store) {
    store.sqlite.exec('CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, role TEXT NOT NULL)');
  }

  exists(name: string): boolean {
    return !!this.store.sqlite.prepare('SELECT 1 FROM users WHERE name = ?').get(name);
  }

  /** Creates or replaces a user. */
  set(name: string, password: string, role: Role): void {
    this.verified.clear();
    if (!ROLES.includes(role)) throw new Error(`unknown role ${role}; known: ${ROLES.join(', ')}`);
    const salt = randomBytes(16).toString('hex');
    const hash = scryptSync(password, salt, 32).toString('hex');
    this.store.sqlite.prepare('INSERT OR REPLACE INTO users (name, salt, hash, role) VALUES (?, ?, ?, ?)').run(name, salt, hash, role);
  }

  /** The user's role if the password is right, else undefined. */
  check(name: string, password: string): Role | undefined {
    const row = this.store.sqlite.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    if (!row) return undefined;
    // The stored hash is part of the key: a password changed by another process invalidates it.
    const key = createHash('sha256').update(`${name}\0${password}\0${row.salt}${row.hash}`).digest('hex');
    const known = this.verified.get(key);
    if (known) return row.role as Role;
    const role = this.checkSlowly(row, password);
    if (role) this.verified.set(key, role);
    return role;
  }

  private checkSlowly(row: UserRow, password: string): Role | undefined {
    const hash = scryptSync(password, row.salt, 32);
    return timingSafeEqual(hash, Buffer.from(row.hash, 'hex')) ? (row.role as Role) : undefined;
  }
}

/** Makes sure `root` exists; returns the generated password when one had to be made up. */
export function ensureRoot(users: Users, password: string | undefined): string | undefined {
  if (users.exists('root')) {
    if (password !== undefined && users.check('root', password) === undefined) users.set('root', password, 'pool-admin');
    return undefined;
  }
  const pw = password ?? randomBytes(12).toString('base64url');
  users.set('root', pw, 'pool-admin');
  return password === undefined ? pw : undefined;
}

export class Sessions {
  private readonly roles = new Map<string, Session>();

  constructor(private readonly store: Store, private readonly users: Users, private readonly hostRef: () => string) {}

  login(user: string, password: string, originator: string): string {
    const role = this.users.check(user, password);
    if (!role) throw new ApiError('SESSION_AUTHENTICATION_FAILED', [user, 'Authentication failure']);
    return this.open(user, role, originator);
  }

  /** A session for a trusted in-process client (the local agent), without a password. */
  open(user: string, role: Role, originator: string): string {
    const ref = `OpaqueRef:${randomUUID()}`;
    this.store.transact((tx) => tx.create('session', {
      this_host: this.hostRef(), this_user: user, auth_user_name: user, originator,
      is_local_superuser: user === 'root', last_active: compactNow(), pool: false,
      rbac_permissions: [],
    }, ref));
    this.roles.set(ref, { ref, user, role });
    return ref;
  }

  logout(ref: string): void {
    this.roles.delete(ref);
    if (this.store.find('session', ref)) this.store.transact((tx) => tx.destroy('session', ref));
  }

  /** The live session, or SESSION_INVALID [ref]. */
  check(ref: unknown): Session {
    const s = typeof ref === 'string' ? this.roles.get(ref) : undefined;
    if (!s) throw new ApiError('SESSION_INVALID', [String(ref)]);
    return s;
  }

  /** RBAC_PERMISSION_DENIED unless the session's role is at least `needed`. */
  authorise(s: Session, needed: Role, method: string): void {
    if (ROLES.indexOf(s.role) < ROLES.indexOf(needed)) {
      throw new ApiError('RBAC_PERMISSION_DENIED', [method, `The role ${s.role} of user ${s.user} may not call ${method}; it needs ${needed}`]);
    }
  }
}

/** Now, in XenAPI's compact datetime form. */
export function compactNow(): string {
  return new Date().toISOString().replace(/[-]/g, '').replace(/\.\d+Z$/, 'Z');
}
