// Runs inside a lab VM, kept alive by busybox init: serves the control channel (protocol.ts)
// on the virtio-serial port named on the command line. It only runs what the lab sends; the
// port exists only between this VM and the QEMU process the lab started.
import { spawn } from 'node:child_process';
import { closeSync, openSync, read, readdirSync, readFileSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineSplitter, MAX_OUTPUT, type ControlReply, type ControlRequest, type ExecReply } from './protocol.js';

function findPort(name: string): string | undefined {
  try {
    for (const d of readdirSync('/sys/class/virtio-ports')) {
      if (readFileSync(`/sys/class/virtio-ports/${d}/name`, 'utf8').trim() === name) return `/dev/${d}`;
    }
  } catch { /* no virtio-serial yet */ }
  return undefined;
}

function execCmd(r: Extract<ControlRequest, { op: 'exec' }>): Promise<ExecReply> {
  return new Promise((resolve) => {
    const child = spawn(r.argv[0]!, r.argv.slice(1), { env: { ...process.env, ...r.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    const collect = (k: 'stdout' | 'stderr') => (d: Buffer) => { if (out[k].length < MAX_OUTPUT) out[k] += d.toString(); };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.stdin.on('error', () => undefined);
    child.stdin.end(r.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), r.timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); resolve({ code: 127, signal: null, stdout: '', stderr: e.message }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout: out.stdout.slice(0, MAX_OUTPUT), stderr: out.stderr.slice(0, MAX_OUTPUT) });
    });
  });
}

function spawnDaemon(r: Extract<ControlRequest, { op: 'spawn' }>): number {
  const fd = openSync(r.log, 'a');
  try {
    const child = spawn(r.argv[0]!, r.argv.slice(1), { env: { ...process.env, ...r.env }, detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`cannot start ${r.argv[0]}`);
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function handle(r: ControlRequest): Promise<ControlReply> {
  try {
    switch (r.op) {
      case 'ping': return { id: r.id, ok: true, op: 'ping', uptimeS: Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) };
      case 'exec': return { id: r.id, ok: true, op: 'exec', ...(await execCmd(r)) };
      case 'spawn': return { id: r.id, ok: true, op: 'spawn', pid: spawnDaemon(r) };
      default: return { id: (r as { id: number }).id, ok: false, error: `unknown op ${(r as { op: string }).op}` };
    }
  } catch (e) {
    return { id: r.id, ok: false, error: (e as Error).message };
  }
}

async function main(): Promise<void> {
  const name = process.argv[2];
  // Seconds without the lab on the other end (after it came once) before the VM powers off:
  // a lab process that dies, however it dies, takes its VM with it. 0: never.
  const orphanS = Number(process.argv[3] ?? '0');
  if (!name || !Number.isFinite(orphanS) || orphanS < 0) throw new Error('usage: guest-control PORT-NAME [ORPHAN-SECONDS]');
  let dev: string | undefined;
  for (let i = 0; i < 100 && !(dev = findPort(name)); i++) await sleep(100);
  if (!dev) throw new Error(`no virtio-serial port named ${name}`);
  const fd = openSync(dev, 'r+');
  console.log(`xcpnet-vm: control server on ${dev} at ${readFileSync('/proc/uptime', 'utf8').split(' ')[0]}s`);
  const send = (reply: ControlReply): void => {
    const buf = Buffer.from(JSON.stringify(reply) + '\n');
    try {
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
    } catch (e) {
      console.log(`xcpnet-vm: reply ${reply.id} lost: ${(e as Error).message}`);
    }
  };
  const lines = new LineSplitter();
  const utf8 = new StringDecoder('utf8');
  const buf = Buffer.alloc(65536);
  let everConnected = false;
  let alone = 0;
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, null, (e, got) => (e ? reject(e) : resolve(got))));
    // 0 bytes: nobody is connected on the machine's side; look again shortly.
    if (n === 0) {
      if (everConnected && orphanS > 0 && (alone ||= Date.now()) < Date.now() - orphanS * 1000) {
        console.log(`xcpnet-vm: the lab has been gone for ${orphanS} s: powering off`);
        spawn('/bin/busybox', ['poweroff', '-f'], { stdio: 'inherit' });
        return;
      }
      await sleep(100);
      continue;
    }
    everConnected = true;
    alone = 0;
    for (const line of lines.push(utf8.write(buf.subarray(0, n)))) {
      let req: ControlRequest;
      try { req = JSON.parse(line) as ControlRequest; } catch { console.log('xcpnet-vm: unparsable request dropped'); continue; }
      void handle(req).then(send);
    }
  }
}

main().catch((e: unknown) => { console.log(`xcpnet-vm: control server: ${(e as Error).message}`); process.exit(1); });
