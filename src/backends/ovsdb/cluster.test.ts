// The client on a real 3-member RAFT cluster of ovsdb-server (on loopback, in a temporary
// directory, no root): it leaves followers for the leader, and follows the leader when it dies.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { OvsdbClient, memberUsable } from './client.js';
import { parseTargets } from './session.js';
import * as ops from './ops.js';

test('memberUsable: a standalone server always; a clustered one when connected (and leader, for a writer)', () => {
  const row = (o: Record<string, unknown>) => [{ name: 'T', model: 'clustered', connected: true, leader: false, ...o }];
  assert.equal(memberUsable([{ name: 'T', model: 'standalone', connected: true, leader: true }], { db: 'T', leaderOnly: true }), true);
  assert.equal(memberUsable(row({}), { db: 'T', leaderOnly: false }), true);
  assert.equal(memberUsable(row({}), { db: 'T', leaderOnly: true }), false);
  assert.equal(memberUsable(row({ leader: true }), { db: 'T', leaderOnly: true }), true);
  assert.equal(memberUsable(row({ connected: false, leader: true }), { db: 'T', leaderOnly: false }), false);
  assert.equal(memberUsable(row({}), { db: 'Other', leaderOnly: true }), true, 'another database: not ours to judge');
});

test('parseTargets: a comma-separated list of members', () => {
  assert.deepEqual(parseTargets('tcp:10.0.0.1:6641,unix:/run/x.sock'), [{ kind: 'tcp', host: '10.0.0.1', port: 6641 }, { kind: 'unix', path: '/run/x.sock' }]);
  assert.throws(() => parseTargets('tcp:10.0.0.1:6641,'), /bad OVSDB target/);
});

const dir = mkdtempSync(join(tmpdir(), 'xcpt-ovsdb-raft-'));
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Retries `fn` until it resolves or `ms` pass (the cluster elects a new leader, the client finds it). */
async function eventually<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try { return await fn(); } catch (e) { if (Date.now() > until) throw e; }
    await sleep(100);
  }
}

test('a writer on a 3-member cluster goes to the leader, and to the new leader when it is killed', { timeout: 60_000 }, async () => {
  const schema = join(dir, 't.ovsschema');
  writeFileSync(schema, JSON.stringify({ name: 'T', version: '1.0.0', tables: { R: { columns: { n: { type: 'integer' } }, isRoot: true } } }));
  const members = await Promise.all(['a', 'b', 'c'].map(async (name) => ({ name, raft: await freePort(), client: await freePort(), proc: undefined as ChildProcess | undefined })));
  const raft = (m: { raft: number }) => `tcp:127.0.0.1:${m.raft}`;
  const [a, b, c] = members as [typeof members[0], typeof members[0], typeof members[0]];
  execFileSync('ovsdb-tool', ['create-cluster', join(dir, 'a.db'), schema, raft(a)]);
  for (const m of [b, c]) execFileSync('ovsdb-tool', ['join-cluster', join(dir, `${m.name}.db`), 'T', raft(m), raft(a)]);
  for (const m of members) {
    m.proc = spawn('ovsdb-server', [join(dir, `${m.name}.db`), `--remote=ptcp:${m.client}:127.0.0.1`, '--no-chdir',
      `--unixctl=${join(dir, `${m.name}.ctl`)}`, `--log-file=${join(dir, `${m.name}.log`)}`], { stdio: 'ignore' });
    procs.push(m.proc);
  }
  // Listed follower first: the client must end on the leader (a, which made the cluster).
  const client = await OvsdbClient.connect([b, c, a].map((m) => `tcp:127.0.0.1:${m.client}`).join(','),
    { cluster: { db: 'T', leaderOnly: true }, backoff: { minBackoffMs: 50, maxBackoffMs: 500 }, connectTimeoutMs: 20_000 });
  try {
    const port = () => (client.session.target as { port: number }).port;
    const isLeader = async () => (await client.transact('_Server', [ops.select('Database', [['name', '==', 'T']], ['leader'])]))[0]!.rows![0]!.leader;
    assert.equal(port(), a.client, 'on the leader');
    await client.transact('T', [ops.insert('R', { n: 1 })]);
    // b and c have joined (each is a connected member) before the leader dies: else two
    // servers of a cluster that is still growing may lack a majority.
    for (const m of [b, c]) {
      (await OvsdbClient.connect(`tcp:127.0.0.1:${m.client}`, { cluster: { db: 'T', leaderOnly: false }, connectTimeoutMs: 20_000 })).close();
    }
    a.proc!.kill('SIGKILL');
    // The write after the leader's death goes through, on a new leader.
    await eventually(20_000, async () => {
      assert.notEqual(port(), a.client);
      assert.equal(await isLeader(), true);
    });
    await client.transact('T', [ops.insert('R', { n: 2 })]);
    const rows = (await client.transact('T', [ops.select('R', [], ['n'])]))[0]!.rows!.map((r) => r.n).sort();
    assert.deepEqual(rows, [1, 2]);
  } finally {
    client.close();
  }
});
