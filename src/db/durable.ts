// Where commits become durable. The store applies a transaction to memory at once (so the next
// transaction sees it) and hands its rows here; nothing that could have seen it is answered until
// `settled` says it is on disk. With a database file, a worker thread does the SQLite
// transactions and their fsyncs, off the event loop: the rows of every commit made while it is
// busy wait in one batch (the last write of each object wins) and go to disk together, in one
// transaction and one fsync (group commit). Batches are written in commit order, so a durable
// generation implies every earlier one.
//
// If a write fails (disk full, I/O error) the memory holds commits the disk does not: nothing
// made after that point is ever acknowledged. Every wait fails and every later transaction is
// refused; a restart starts again from what is on disk.

import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';

/** One object's new stored form (null: deleted). */
export type Row = { ref: string; cls: string; data: string | null };

/** What the worker is sent: the rows to write and the generation they bring the database to. */
export interface Batch { gen: number; rows: Row[] }

/** A write waiting for the disk. */
interface Waiter { gen: number; resolve: () => void; reject: (e: Error) => void }

export interface Durability {
  /** The last generation known to be on disk. */
  readonly durable: number;
  /** Set once a write has failed: nothing after it will ever be durable. */
  readonly failure: Error | undefined;
  /** Queues a commit's rows (generation `gen`, after every earlier one). */
  write(gen: number, rows: Row[]): void;
  /** Undefined when `gen` is already on disk, else a promise that settles when it is (or never can be). */
  settled(gen: number): Promise<void> | undefined;
  /** Writes everything queued, synchronously, and stops. */
  close(): void;
}

/** The statements that write a batch; shared by the worker and the in-thread writer. */
export function batchWriter(db: Database.Database): (b: Batch) => void {
  const put = db.prepare('INSERT OR REPLACE INTO objects (ref, cls, data) VALUES (?, ?, ?)');
  const del = db.prepare('DELETE FROM objects WHERE ref = ?');
  const setGen = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)");
  return db.transaction((b: Batch) => {
    for (const r of b.rows) {
      if (r.data === null) del.run(r.ref);
      else put.run(r.ref, r.cls, r.data);
    }
    setGen.run(String(b.gen));
  });
}

/** For a database that lives in this thread (':memory:'): each commit is written before write returns. */
export class InlineDurability implements Durability {
  durable: number;
  failure: Error | undefined;
  private readonly writeBatch: (b: Batch) => void;

  constructor(db: Database.Database, gen: number) {
    this.durable = gen;
    this.writeBatch = batchWriter(db);
  }

  write(gen: number, rows: Row[]): void {
    this.writeBatch({ gen, rows });
    this.durable = gen;
  }

  settled(): undefined { return undefined; }
  close(): void {}
}

/** Group commit in a worker thread, for a database file. */
export class WorkerDurability implements Durability {
  durable: number;
  failure: Error | undefined;
  private readonly worker: Worker;
  /** Rows waiting for the next batch, by ref (the last write of an object wins), and its generation. */
  private pending = new Map<string, Row>();
  private pendingGen: number;
  /** The generation of the batch the worker is writing, if any. */
  private inFlight: number | undefined;
  private sendQueued = false;
  private waiters: Waiter[] = [];
  /** [0]: set to 1 by the worker once it has written everything and closed the database. */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));

  constructor(path: string, gen: number) {
    this.durable = gen;
    this.pendingGen = gen;
    this.worker = new Worker(new URL('./durable-worker.js', import.meta.url), { workerData: { path, closed: this.closed } });
    this.worker.on('message', (m: { gen: number } | { error: string }) => {
      if ('error' in m) this.fail(new Error(m.error));
      else this.written(m.gen);
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => { if (code !== 0) this.fail(new Error(`the database writer stopped (exit code ${code})`)); });
    // Idle, the writer must not keep the process alive; it is referenced while a batch is out.
    this.worker.unref();
  }

  write(gen: number, rows: Row[]): void {
    if (this.failure) throw this.failure;
    for (const r of rows) this.pending.set(r.ref, r);
    this.pendingGen = gen;
    // The commits of the current synchronous run go out together.
    if (this.inFlight === undefined && !this.sendQueued) {
      this.sendQueued = true;
      queueMicrotask(() => { this.sendQueued = false; this.send(); });
    }
  }

  settled(gen: number): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (gen <= this.durable) return undefined;
    return new Promise((resolve, reject) => this.waiters.push({ gen, resolve, reject }));
  }

  close(): void {
    if (!this.failure) {
      this.send(true);
      this.worker.postMessage({ close: true });
      // Synchronous, as closing a database is: block until the worker has written it all.
      Atomics.wait(this.closed, 0, 0, 60_000);
      if (Atomics.load(this.closed, 0) === 1 && this.pendingGen > this.durable) this.durable = this.pendingGen;
    }
    void this.worker.terminate();
  }

  /** Sends the pending batch unless one is being written (`force`: even then, at close). */
  private send(force = false): void {
    if (this.failure || (this.inFlight !== undefined && !force) || this.pendingGen <= Math.max(this.durable, this.inFlight ?? -1)) return;
    const batch: Batch = { gen: this.pendingGen, rows: [...this.pending.values()] };
    this.pending = new Map();
    this.inFlight = batch.gen;
    this.worker.ref();
    this.worker.postMessage(batch);
  }

  private written(gen: number): void {
    if (gen > this.durable) this.durable = gen;
    if (this.inFlight !== undefined && gen >= this.inFlight) this.inFlight = undefined;
    const done = this.waiters.filter((w) => w.gen <= this.durable);
    if (done.length) this.waiters = this.waiters.filter((w) => w.gen > this.durable);
    for (const w of done) w.resolve();
    this.send();
    if (this.inFlight === undefined) this.worker.unref();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    // An error thrown in the worker arrives as a copy: its message may be all that is left, or not even that.
    this.failure = new Error(`the database cannot be written: ${e?.message ?? (e as { code?: string })?.code ?? String(e)}`);
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(this.failure);
    this.worker.unref();
  }
}
