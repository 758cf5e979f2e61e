// The baseline of bench/events: a bare node:http long-poll server doing the same job as xcpnet's
// event.from with the fewest moves. A write (network.create) commits one row durably
// (better-sqlite3, WAL, synchronous=FULL, one transaction), encodes its event once and wakes
// every waiting poll; a poll (event.from) answers at once with the events after its token, or
// waits for the next write. Replies are JSON-RPC 2.0 with xcpnet's shape: events with their
// snapshot, valid_ref_counts, token. Run by bench/events (argv: state dir, snapshot JSON file).
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';

const [dir, snapshotFile] = process.argv.slice(2) as [string, string];
const snapshot = readFileSync(snapshotFile, 'utf8');
const db = new Database(join(dir, 'bare.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE objects (ref TEXT PRIMARY KEY, cls TEXT NOT NULL, data TEXT NOT NULL)');
const put = db.prepare('INSERT INTO objects (ref, cls, data) VALUES (?, ?, ?)');

const events: string[] = [];
let waiting: Array<() => void> = [];
const pad = (n: number) => String(n).padStart(20, '0');

function reply(res: ServerResponse, id: unknown, result: string): void {
  const body = `{"jsonrpc":"2.0","result":${result},"id":${JSON.stringify(id)}}`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function answerPoll(res: ServerResponse, id: unknown, since: number, deadline: number): void {
  if (events.length > since || Date.now() >= deadline) {
    reply(res, id, `{"events":[${events.slice(since).join(',')}],"valid_ref_counts":{"network":${events.length}},"token":"${pad(events.length)},${pad(0)}"}`);
    return;
  }
  waiting.push(() => answerPoll(res, id, since, deadline));
}

createServer((req, res) => {
  let b = '';
  req.on('data', (d) => { b += d; });
  req.on('end', () => {
    const call = JSON.parse(b) as { id: unknown; method: string; params: unknown[] };
    if (call.method === 'network.create') {
      const ref = `OpaqueRef:${randomUUID()}`;
      const data = JSON.stringify(call.params[1]);
      db.transaction(() => put.run(ref, 'network', data))();
      events.push(`{"id":"${events.length + 1}","timestamp":"0.0","class":"network","operation":"add","ref":"${ref}","snapshot":${snapshot}}`);
      reply(res, call.id, JSON.stringify(ref));
      const ws = waiting;
      waiting = [];
      for (const w of ws) w();
    } else if (call.method === 'event.from') {
      const token = String(call.params[2]);
      const since = token === '' ? events.length : Number(token.split(',')[0]);
      answerPoll(res, call.id, since, Date.now() + Number(call.params[3]) * 1000);
    } else reply(res, call.id, '""');
  });
}).listen(0, '127.0.0.1', function (this: { address(): { port: number } }) { console.log(this.address().port); });
