// The database's schema version and the migrations that bring an older database up to it.
// The version is SQLite's own `user_version` (a header field: no table to keep in step); each
// migration runs in a transaction together with the version bump, so a database is always at one
// version or the next, never in between. A database newer than this code is refused rather than
// written to: an older xcpnet could not know what its newer fields mean.
import type Database from 'better-sqlite3';

export interface Migration {
  /** The version the database is at once this migration has run. */
  version: number;
  what: string;
  up(db: Database.Database): void;
}

/** In order; never edited once released: a new change is a new entry at the end. */
export const MIGRATIONS: readonly Migration[] = [
  {
    // Databases made before versioning (user_version 0) already have these tables: IF NOT EXISTS
    // makes the first migration a no-op for them and the whole schema for a new file.
    version: 1,
    what: 'objects, meta and users tables',
    up(db) {
      db.exec(`CREATE TABLE IF NOT EXISTS objects (ref TEXT PRIMARY KEY, cls TEXT NOT NULL, data TEXT NOT NULL);
               CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
               CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, role TEXT NOT NULL);`);
    },
  },
  {
    // Objects are looked up by class when a pool dump is taken or checked.
    version: 2,
    what: 'index of objects by class',
    up(db) {
      db.exec('CREATE INDEX IF NOT EXISTS objects_by_class ON objects (cls)');
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export class SchemaTooNew extends Error {}

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings `db` to `target` (default: the latest) by running the migrations above its version in
 * order. Returns the migrations run. Throws SchemaTooNew for a database newer than the list.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS,
  target = migrations[migrations.length - 1]?.version ?? 0): Migration[] {
  const at = schemaVersion(db);
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  if (at > latest) {
    throw new SchemaTooNew(`the database is at schema version ${at}, newer than this xcpnet knows (${latest}): run a newer xcpnet, or restore a dump made by this version`);
  }
  const ran: Migration[] = [];
  for (const m of migrations) {
    if (m.version <= at || m.version > target) continue;
    db.transaction(() => {
      m.up(db);
      // Not a bound parameter: pragmas take none; the value is an integer from the list above.
      db.pragma(`user_version = ${Math.trunc(m.version)}`);
    })();
    ran.push(m);
  }
  return ran;
}
