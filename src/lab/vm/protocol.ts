// The control channel between the lab and a VM: one JSON object per line each way, over a
// virtio-serial port. Requests carry an id; the guest answers each once, in any order.

export type ControlRequest =
  | { id: number; op: 'ping' }
  /** Runs argv to completion (killed after timeoutMs) and returns its exit and output. */
  | { id: number; op: 'exec'; argv: string[]; env?: Record<string, string>; input?: string; timeoutMs: number }
  /** Starts argv in the background (its own session), output appended to `log`; returns its pid. */
  | { id: number; op: 'spawn'; argv: string[]; env?: Record<string, string>; log: string };

export interface ExecReply { code: number; signal: string | null; stdout: string; stderr: string }

export type ControlReply =
  | ({ id: number; ok: true } & ({ op: 'ping'; uptimeS: number } | ({ op: 'exec' } & ExecReply) | { op: 'spawn'; pid: number }))
  | { id: number; ok: false; error: string };

/** Bytes of stdout or stderr kept per exec: a runaway command cannot flood the channel. */
export const MAX_OUTPUT = 1024 * 1024;

/** Splits a byte stream into complete lines; keeps the incomplete tail for the next chunk. */
export class LineSplitter {
  private tail = '';
  push(chunk: string): string[] {
    const parts = (this.tail + chunk).split('\n');
    this.tail = parts.pop()!;
    return parts.filter((l) => l.trim() !== '');
  }
}
