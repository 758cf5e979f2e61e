// A baseline of bench/writes: a bare node:http server that commits each request durably, as the
// raw baseline does (better-sqlite3, WAL, synchronous=FULL, one single-row transaction per
// request, a random ref), into a table prefilled with as many rows, and answers with the ref.
// What one HTTP round trip plus one durable commit cost, with nothing else.
// Run by bench/writes (argv: database file, rows to prefill, row text file).
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [file, prefill, rowFile] = process.argv.slice(2) as [string, string, string];
const row = readFileSync(rowFile, 'utf8');
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE objects (ref TEXT PRIMARY KEY, cls TEXT NOT NULL, data TEXT NOT NULL)');
const put = db.prepare('INSERT INTO objects (ref, cls, data) VALUES (?, ?, ?)');
db.transaction(() => { for (let i = 0; i < Number(prefill); i++) put.run(`OpaqueRef:${randomUUID()}`, 'network', row); })();

createServer((req, res) => {
  let b = '';
  req.on('data', (d) => { b += d; });
  req.on('end', () => {
    const call = JSON.parse(b) as { id: unknown };
    const ref = `OpaqueRef:${randomUUID()}`;
    db.transaction(() => put.run(ref, 'network', row))();
    const body = `{"jsonrpc":"2.0","result":"${ref}","id":${JSON.stringify(call.id)}}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(0, '127.0.0.1', function (this: { address(): { port: number } }) { console.log(this.address().port); });
