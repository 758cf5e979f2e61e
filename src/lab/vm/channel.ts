// The machine's side of a VM's two sockets: the control channel (protocol.ts) and QMP, QEMU's
// own JSON monitor (set_link pulls a virtual cable). Both are unix sockets QEMU serves.
import { connect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineSplitter, type ControlReply, type ControlRequest } from './protocol.js';

type Pending = { resolve: (r: ControlReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** Connects to a unix socket QEMU serves, retrying while QEMU is still creating it. */
export async function connectUnix(path: string, timeoutMs: number, alive: () => boolean): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path);
        s.once('connect', () => { s.off('error', reject); resolve(s); });
        s.once('error', reject);
      });
    } catch (e) {
      if (!alive()) throw new Error(`QEMU exited before serving ${path}`);
      if (Date.now() > deadline) throw new Error(`cannot connect to ${path}: ${(e as Error).message}`);
      await sleep(50);
    }
  }
}

/** Distributive Omit: keeps each request kind's own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class ControlChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedWith?: Error;

  constructor(private readonly sock: Socket) {
    const lines = new LineSplitter();
    const utf8 = new StringDecoder('utf8');
    sock.on('data', (d: Buffer) => {
      for (const line of lines.push(utf8.write(d))) {
        let r: ControlReply;
        try { r = JSON.parse(line) as ControlReply; } catch { continue; }
        const p = this.pending.get(r.id);
        if (!p) continue;
        this.pending.delete(r.id);
        clearTimeout(p.timer);
        p.resolve(r);
      }
    });
    const fail = (e: Error): void => {
      this.closedWith ??= e;
      for (const [id, p] of this.pending) { clearTimeout(p.timer); p.reject(e); this.pending.delete(id); }
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('the VM control channel closed')));
  }

  /** Sends a request; rejects after timeoutMs without an answer, or when the channel closes. */
  request(req: WithoutId<ControlRequest>, timeoutMs: number): Promise<ControlReply> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`VM control: no answer to ${req.op} within ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sock.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** QMP: a greeting, qmp_capabilities, then one command at a time; events are skipped. */
export class Qmp {
  private queue: Promise<unknown> = Promise.resolve();
  private waiter?: (msg: Record<string, unknown>) => void;

  private constructor(private readonly sock: Socket) {
    const lines = new LineSplitter();
    const utf8 = new StringDecoder('utf8');
    sock.on('data', (d: Buffer) => {
      for (const line of lines.push(utf8.write(d))) {
        let m: Record<string, unknown>;
        try { m = JSON.parse(line) as Record<string, unknown>; } catch { continue; }
        if ('event' in m) continue;
        const w = this.waiter;
        this.waiter = undefined;
        w?.(m);
      }
    });
    sock.on('error', () => undefined);
  }

  static async connect(path: string, timeoutMs: number, alive: () => boolean): Promise<Qmp> {
    const sock = await connectUnix(path, timeoutMs, alive);
    const q = new Qmp(sock);
    await q.next(timeoutMs); // greeting
    await q.execute('qmp_capabilities', undefined, timeoutMs);
    return q;
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = undefined; reject(new Error(`QMP: no answer within ${timeoutMs} ms`)); }, timeoutMs);
      this.waiter = (m) => { clearTimeout(timer); resolve(m); };
    });
  }

  /** Runs one QMP command; rejects with QEMU's error description. */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    const run = async (): Promise<unknown> => {
      const answer = this.next(timeoutMs);
      this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
      const m = await answer;
      if (m.error) throw new Error(`QMP ${command}: ${(m.error as { desc?: string }).desc ?? JSON.stringify(m.error)}`);
      return m.return;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.sock.destroy();
  }
}
