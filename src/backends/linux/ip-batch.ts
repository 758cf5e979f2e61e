// A long-lived `ip -json -details -batch -` in the host's namespace. Each command is a fresh
// netlink dump, answered as one line of JSON (iproute2 flushes after each command), so an
// observation costs no process start (a fork+exec of a large Node process costs 20–30 ms).
// The process is ours: started on first use, again after it dies, ended by close() (by pid).
// With `force`, a failing command (a link gone since it was named) prints nothing and the
// helper goes on (iproute2's -force); such a batch ends with a command that always answers.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

interface Proc { p: ChildProcessWithoutNullStreams; lines: string[]; buf: string; stderr: string; wake?: () => void; dead?: Error }

/**
 * How much of the helper's stderr is kept, for the message when it dies: only the last part.
 * It lives as long as the agent, and with -force every vanished link it is asked for adds a line.
 */
export const STDERR_KEPT = 4096;

export class IpBatch {
  private proc?: Proc;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly netns?: string, private readonly timeoutMs = 15000, private readonly force = false) {}

  private start(): Proc {
    const argv = [...(this.netns ? ['-n', this.netns] : []), ...(this.force ? ['-force'] : []), '-json', '-details', '-batch', '-'];
    const p = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const proc: Proc = { p, lines: [], buf: '', stderr: '' };
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      proc.buf += d;
      for (let i = proc.buf.indexOf('\n'); i >= 0; i = proc.buf.indexOf('\n')) {
        const line = proc.buf.slice(0, i);
        proc.buf = proc.buf.slice(i + 1);
        if (line.trim() !== '') proc.lines.push(line);
      }
      proc.wake?.();
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => { proc.stderr = (proc.stderr + d).slice(-STDERR_KEPT); });
    const die = (e: Error) => {
      proc.dead ??= e;
      if (this.proc === proc) this.proc = undefined;
      proc.wake?.();
    };
    p.on('error', die);
    p.on('close', (code) => die(new Error(`ip ${argv.join(' ')}: ${proc.stderr.trim() || `exited (${code})`}`)));
    p.stdin.on('error', () => { /* EPIPE after it died: reported by 'close' */ });
    // An idle helper does not keep the process alive (a pending request does, by its timer).
    p.unref();
    for (const s of [p.stdin, p.stdout, p.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    return proc;
  }

  /** Runs the commands (one output line each) and returns their JSON texts, in order. */
  run(cmds: string[]): Promise<string[]> {
    return this.runUntil(cmds, (lines) => (lines.length >= cmds.length ? cmds.length : undefined));
  }

  /**
   * Runs the commands and returns the output lines up to and including the last one, which
   * `end` recognises (it returns how many lines the answer has, or undefined for "not yet").
   */
  runUntil(cmds: string[], end: (lines: string[]) => number | undefined): Promise<string[]> {
    const next = this.queue.then(() => new Promise<string[]>((resolve, reject) => {
      const proc = this.proc ??= this.start();
      proc.lines.length = 0;
      const timer = setTimeout(() => { proc.wake = undefined; proc.p.kill('SIGKILL'); reject(new Error(`ip -batch: no answer within ${this.timeoutMs} ms`)); }, this.timeoutMs);
      proc.wake = () => {
        const n = end(proc.lines);
        if (n !== undefined) { proc.wake = undefined; clearTimeout(timer); resolve(proc.lines.splice(0, n)); }
        else if (proc.dead) { proc.wake = undefined; clearTimeout(timer); reject(proc.dead); }
      };
      proc.p.stdin.write(cmds.join('\n') + '\n');
    }));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Characters of stderr the running helper holds (tests check the bound). */
  stderrHeld(): number { return this.proc?.stderr.length ?? 0; }

  close(): void {
    const proc = this.proc;
    this.proc = undefined;
    if (proc && !proc.dead) { proc.p.stdin.end(); proc.p.kill('SIGTERM'); }
  }
}
