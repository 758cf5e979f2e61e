// The database writer thread of WorkerDurability (durable.ts): writes each batch it is sent in
// one SQLite transaction, fsync'd (synchronous=FULL), and answers with its generation.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { batchWriter, type Batch } from './durable.js';

const { path, closed } = workerData as { path: string; closed: Int32Array };
let db: Database.Database | undefined;
let write: ((b: Batch) => void) | undefined;
let broken: string | undefined;
try {
  db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // The main thread's connection writes the users table now and then.
  db.pragma('busy_timeout = 10000');
  write = batchWriter(db);
} catch (e) {
  broken = (e as Error).message;
}

parentPort!.on('message', (m: Batch | { close: true }) => {
  if ('close' in m) {
    db?.close();
    Atomics.store(closed, 0, 1);
    Atomics.notify(closed, 0);
    parentPort!.close();
    return;
  }
  try {
    if (!write) throw new Error(broken);
    write(m);
    parentPort!.postMessage({ gen: m.gen });
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
