// Starting and stopping a lab VM: QEMU (TCG) run inside a lab namespace, where its taps are,
// booting Debian's kernel with our initramfs; the lab then talks to the guest over the
// control channel. Planning is in qemu.ts and initramfs.ts; this file does the I/O.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { killProcesses } from '../ovs.js';
import { isRecordedAlive, procRecord, type ProcRecord } from '../state.js';
import { ControlChannel, Qmp, connectUnix } from './channel.js';
import { buildInitramfs, type GuestInit } from './initramfs.js';
import { BUSYBOX, findGuestKernel, type GuestKernel } from './kernel.js';
import type { ControlReply, ExecReply } from './protocol.js';
import { kernelAppend, qemuArgv, type QemuNic } from './qemu.js';

const CONTROL_SCRIPT = fileURLToPath(new URL('./guest-control.js', import.meta.url));
const CONTROL_PORT = 'xcpnet.ctl';
const ROOT_TAG = 'hostroot';

export interface VmOptions {
  /** Short name (`vm1`): the guest's hostname and QEMU's -name. */
  name: string;
  /** The lab's prefix: every tap starts with it. */
  prefix: string;
  /** Directory of this VM's files (initramfs, sockets, console log, pidfile); made if missing. */
  dir: string;
  /** The lab namespace QEMU runs in, where its taps already are. */
  netns: string;
  nics: QemuNic[];
  memoryMb?: number;
  cpus?: number;
  /** Modules loaded before `setup` runs (dependencies follow). */
  modules?: string[];
  /** Shell text run at the end of the guest's sysinit. */
  setup?: string;
  /** Bound on reaching a usable control channel (default 240 s: TCG on a busy machine). */
  bootTimeoutMs?: number;
  kernel?: GuestKernel;
  /**
   * The guest powers itself off this many seconds after the lab's end of the control channel
   * went away (default 15; 0 = never): a test runner killed outright leaves no VM running.
   */
  orphanS?: number;
  /** Called with QEMU's record as soon as it runs, so the lab's teardown can find it. */
  onStarted?: (proc: ProcRecord) => void;
}

export interface ExecOptions {
  env?: Record<string, string>;
  input?: string;
  /** Bound on the command (default 60 s). */
  timeoutMs?: number;
}

export class LabVm {
  constructor(
    readonly name: string,
    readonly dir: string,
    readonly proc: ProcRecord,
    private readonly control: ControlChannel,
    private readonly qmp: Qmp,
    /** Milliseconds from starting QEMU to the first answer on the control channel. */
    readonly bootMs: number,
  ) {}

  get alive(): boolean { return isRecordedAlive(this.proc); }

  private async ask(req: Parameters<ControlChannel['request']>[0], timeoutMs: number): Promise<ControlReply & { ok: true }> {
    const r = await this.control.request(req, timeoutMs);
    if (!r.ok) throw new Error(`${this.name}: ${req.op} failed: ${r.error}`);
    return r;
  }

  /** Runs argv in the guest; never throws on a non-zero exit (check `code`). */
  async exec(argv: string[], o: ExecOptions = {}): Promise<ExecReply> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    // The guest kills the command at timeoutMs; the answer gets a few seconds more to arrive.
    const r = await this.ask({ op: 'exec', argv, timeoutMs, ...(o.env ? { env: o.env } : {}), ...(o.input !== undefined ? { input: o.input } : {}) }, timeoutMs + 15_000);
    if (r.op !== 'exec') throw new Error(`${this.name}: unexpected reply ${r.op}`);
    return { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs argv in the guest and returns its stdout; throws with its stderr on failure. */
  async run(argv: string[], o: ExecOptions = {}): Promise<string> {
    const r = await this.exec(argv, o);
    if (r.code !== 0) throw new Error(`${this.name}: ${argv.join(' ')} exited ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
    return r.stdout;
  }

  /** Runs a shell script in the guest (sh -e); returns its stdout, throws on failure. */
  sh(script: string, o: ExecOptions = {}): Promise<string> {
    return this.run(['/bin/sh', '-ec', script], o);
  }

  /** Starts a daemon in the guest, output appended to `log` (a guest path); returns its pid. */
  async spawn(argv: string[], log: string, env?: Record<string, string>): Promise<number> {
    const r = await this.ask({ op: 'spawn', argv, log, ...(env ? { env } : {}) }, 30_000);
    if (r.op !== 'spawn') throw new Error(`${this.name}: unexpected reply ${r.op}`);
    return r.pid;
  }

  /** Plugs or pulls the virtual cable of a NIC (the guest sees carrier go or come). */
  async setLink(nicId: string, up: boolean): Promise<void> {
    await this.qmp.execute('set_link', { name: nicId, up });
  }

  /** The last lines of the guest's serial console. */
  consoleTail(lines = 40): string {
    return tailOf(join(this.dir, 'console.log'), lines);
  }

  /** Stops QEMU (SIGTERM, SIGKILL after a bounded wait); only the process this VM started. */
  async stop(): Promise<void> {
    this.control.close();
    this.qmp.close();
    await killProcesses([this.proc], 5000);
  }
}

function tailOf(file: string, lines: number): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n'); } catch { return ''; }
}

const MAX_SOCKET_PATH = 107;

/**
 * Boots a VM and waits, bounded, until its control channel answers. On any failure QEMU is
 * stopped and the error carries the end of the guest's console.
 */
/**
 * Starts QEMU detached in a lab namespace, its output to logFile; returns QEMU's pid. nsenter
 * enters only the network namespace (the taps are there) and execs QEMU, so the pid is QEMU's.
 */
export function spawnQemuIn(netns: string, argv: string[], logFile: string, name: string): number {
  const log = openSync(logFile, 'w');
  let pid: number | undefined;
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', ...argv], { detached: true, stdio: ['ignore', log, log] });
    child.on('error', () => undefined);
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(log);
  }
  if (pid === undefined) throw new Error(`cannot start QEMU for ${name}`);
  return pid;
}

export async function startVm(o: VmOptions): Promise<LabVm> {
  const kernel = o.kernel ?? findGuestKernel();
  mkdirSync(o.dir, { recursive: true });
  const file = (n: string): string => join(o.dir, n);
  for (const s of ['ctl.sock', 'qmp.sock']) {
    if (file(s).length > MAX_SOCKET_PATH) throw new Error(`VM directory ${o.dir} is too long for unix sockets`);
    rmSync(file(s), { force: true });
  }
  rmSync(file('console.log'), { force: true });
  const init: GuestInit = {
    hostname: o.name, rootTag: ROOT_TAG, release: kernel.release, modulesDir: kernel.modulesDir,
    modules: o.modules ?? [], setup: o.setup ?? '',
    control: { node: process.execPath, script: CONTROL_SCRIPT, port: CONTROL_PORT, orphanS: o.orphanS ?? 15 },
  };
  writeFileSync(file('initramfs.cpio'), buildInitramfs(init, BUSYBOX));
  const argv = qemuArgv({
    name: o.name, prefix: o.prefix, kernel: kernel.vmlinuz, initrd: file('initramfs.cpio'), append: kernelAppend(),
    memoryMb: o.memoryMb ?? 1024, cpus: o.cpus ?? 2, rootTag: ROOT_TAG, nics: o.nics,
    controlPort: CONTROL_PORT, controlSocket: file('ctl.sock'), qmpSocket: file('qmp.sock'),
    consoleLog: file('console.log'), pidfile: file('qemu.pid'),
  });
  const started = Date.now();
  const pid = spawnQemuIn(o.netns, argv, file('qemu.log'), o.name);
  let proc: ProcRecord;
  try { proc = procRecord(pid, `${o.name} qemu`, o.netns); } catch { throw new Error(`QEMU for ${o.name} exited at once: ${tailOf(file('qemu.log'), 20)}`); }
  o.onStarted?.(proc);
  const alive = (): boolean => isRecordedAlive(proc);
  const deadline = started + (o.bootTimeoutMs ?? 240_000);
  let qmp: Qmp | undefined;
  let control: ControlChannel | undefined;
  try {
    qmp = await Qmp.connect(file('qmp.sock'), 20_000, alive);
    control = new ControlChannel(await connectUnix(file('ctl.sock'), 20_000, alive));
    // One ping waits in the channel until the guest's control server reads it.
    const pong = control.request({ op: 'ping' }, Math.max(1, deadline - Date.now()));
    let done = false;
    pong.then(() => { done = true; }, () => { done = true; });
    while (!done && alive()) await sleep(200);
    if (!alive()) throw new Error('QEMU exited during boot');
    await pong;
    return new LabVm(o.name, o.dir, proc, control, qmp, Date.now() - started);
  } catch (e) {
    control?.close();
    qmp?.close();
    await killProcesses([proc], 5000);
    throw new Error(`${o.name} did not boot: ${(e as Error).message}\n--- QEMU:\n${tailOf(file('qemu.log'), 20)}\n--- console:\n${tailOf(file('console.log'), 40)}`);
  }
}
