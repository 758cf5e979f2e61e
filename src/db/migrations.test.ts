import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from './store.js';
import { MIGRATIONS, SCHEMA_VERSION, SchemaTooNew, migrate, schemaVersion, type Migration } from './migrations.js';
import { CLASSES, RELATIONS } from '../idl/index.js';

function tempDir(): string { return mkdtempSync(join(tmpdir(), 'xcpnet-migrate-')); }
const open = (path: string) => new Store({ path, classes: CLASSES, relations: RELATIONS });
const indexes = (db: Database.Database) => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);

test('a database made before schema versions (user_version 0, as every release so far made) is migrated and keeps every object', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'xcpnet.db');
    // Exactly what the store and the users table of the previous version create.
    const old = new Database(path);
    old.exec(`CREATE TABLE objects (ref TEXT PRIMARY KEY, cls TEXT NOT NULL, data TEXT NOT NULL);
              CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
              CREATE TABLE users (name TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, role TEXT NOT NULL);`);
    old.prepare('INSERT INTO objects VALUES (?, ?, ?)').run('OpaqueRef:n1', 'network', JSON.stringify({ uuid: 'u-n1', name_label: 'kept', other_config: {} }));
    old.prepare("INSERT INTO meta VALUES ('generation', '41')").run();
    old.prepare('INSERT INTO users VALUES (?, ?, ?, ?)').run('root', 'salt', 'hash', 'pool-admin');
    assert.equal(schemaVersion(old), 0);
    old.close();

    const store = open(path);
    try {
      assert.equal(schemaVersion(store.sqlite), SCHEMA_VERSION);
      assert.equal(store.get('network', 'OpaqueRef:n1').name_label, 'kept');
      assert.equal(store.generation, 41);
      assert.deepEqual(store.sqlite.prepare('SELECT name, role FROM users').all(), [{ name: 'root', role: 'pool-admin' }]);
      assert.ok(indexes(store.sqlite).includes('objects_by_class'));
    } finally { store.close(); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a database one version behind is brought to the latest; a new file starts at the latest', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'prev.db');
    const prev = new Database(path);
    assert.deepEqual(migrate(prev, MIGRATIONS, SCHEMA_VERSION - 1).map((m) => m.version), MIGRATIONS.slice(0, -1).map((m) => m.version));
    assert.equal(schemaVersion(prev), SCHEMA_VERSION - 1);
    prev.close();
    const s = open(path);
    assert.equal(schemaVersion(s.sqlite), SCHEMA_VERSION);
    s.close();
    const fresh = open(join(dir, 'new.db'));
    assert.equal(schemaVersion(fresh.sqlite), SCHEMA_VERSION);
    fresh.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('migrations run in order, each with its version bump in one transaction; a failing one changes nothing; a newer database is refused', () => {
  const db = new Database(':memory:');
  const ran: number[] = [];
  const list: Migration[] = [
    { version: 1, what: 'a', up: (d) => { ran.push(1); d.exec('CREATE TABLE a (x)'); } },
    { version: 2, what: 'b', up: (d) => { ran.push(2); d.exec('CREATE TABLE b (x)'); } },
    { version: 3, what: 'c', up: (d) => { ran.push(3); d.exec('CREATE TABLE c (x)'); throw new Error('broken migration'); } },
  ];
  assert.throws(() => migrate(db, list), /broken migration/);
  assert.deepEqual(ran, [1, 2, 3]);
  assert.equal(schemaVersion(db), 2, 'stopped at the last migration that completed');
  assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'c'").get() as { n: number }).n, 0, 'the failed one left no table');
  ran.length = 0;
  assert.deepEqual(migrate(db, list.slice(0, 2)), [], 'nothing to do at the latest version');
  assert.deepEqual(ran, []);
  assert.throws(() => migrate(db, list.slice(0, 1)), SchemaTooNew);
  db.close();

  const dir = tempDir();
  try {
    const path = join(dir, 'future.db');
    const f = new Database(path);
    f.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    f.close();
    assert.throws(() => open(path), (e: Error) => e instanceof SchemaTooNew && /newer than this xcpnet knows/.test(e.message));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
