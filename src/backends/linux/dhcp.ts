// DHCP for PIFs: one client per interface, a child process of the agent that it supervises
// (started, restarted after a crash with a bounded backoff, stopped with a release when the PIF
// no longer wants DHCP). The client only obtains and renews the lease; the agent configures the
// address, the route and the resolver from it, like everything else (so the address move, the
// management rollback and DHCP never fight over the interface).
//
// The client is busybox's udhcpc (Debian's busybox-static or busybox), chosen over
// isc-dhcp-client's dhclient, which xcp-networkd runs:
// - Debian ships dhclient with an AppArmor profile that lets it read its configuration only
//   under /etc/dhcp, keep leases and pid files only under /var/lib/dhcp and /run, and run no
//   script but /sbin/dhclient-script, which itself configures the interface and rewrites
//   /etc/resolv.conf: the agent could neither keep the client's files in its own directory nor
//   stop the client from configuring the interface behind its back;
// - ISC ended dhclient's maintenance in 2022;
// - udhcpc takes any script (`-s`), runs in the foreground (`-f`) as a supervisable child,
//   releases on exit (`-R`), renews on SIGUSR1, and is one static binary the VM tier has anyway.
// What udhcpc lacks, a lease database, the agent keeps: the last address is asked for again
// (`-r`) after a restart, so a host keeps its address across agent restarts.
//
// Everything is argv; the client's environment is PATH and the lease directory only (never the
// agent's, which may hold a password). Its files live in the agent's state directory:
// `dhcp/<dev>.pid`, `dhcp/<dev>.lease` (written by the hook, atomically), `dhcp/udhcpc-hook`.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { isDnsName, isIfName, isIPv4, isIPv6 } from '../../common/net-syntax.js';

/** The hook udhcpc runs at each event: it writes what the lease says for the agent, nothing else. */
export const HOOK_SCRIPT = `#!/bin/sh
# Written by the xcpnet agent. udhcpc runs it at each DHCP event; it records the lease for the
# agent, which configures the interface itself. It configures nothing.
f="$XCPNET_DHCP_DIR/$interface.lease"
case "$1" in
  bound|renew) ;;
  nak) rm -f "$f"; exit 0 ;;
  *) exit 0 ;;
esac
umask 077
printf 'ip=%s\\nmask=%s\\nrouter=%s\\ndns=%s\\nlease=%s\\ndomain=%s\\n' "$ip" "$mask" "$router" "$dns" "$lease" "$domain" > "$f.tmp" && mv -f "$f.tmp" "$f"
`;

export interface Lease {
  ip: string;
  prefix: number;
  router?: string;
  dns: string[];
  search: string[];
  /** When it was obtained or renewed (ms) and for how long (s). */
  at: number;
  seconds: number;
}

/**
 * Pure: a lease file → the lease, or undefined when it says nothing usable. The first line of
 * each key counts (a server's text cannot add a line that overrides the address: the free-text
 * `domain` comes last), and every value is checked.
 */
export function parseLease(text: string, at: number): Lease | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z]+)=(.*)$/.exec(line);
    if (m && !kv.has(m[1]!)) kv.set(m[1]!, m[2]!);
  }
  const ip = kv.get('ip') ?? '';
  const prefix = Number(kv.get('mask'));
  const seconds = Number(kv.get('lease'));
  if (!isIPv4(ip) || !Number.isInteger(prefix) || prefix < 1 || prefix > 32) return undefined;
  const router = (kv.get('router') ?? '').split(' ').find(isIPv4);
  return {
    ip, prefix, ...(router ? { router } : {}),
    dns: (kv.get('dns') ?? '').split(' ').filter((x) => isIPv4(x) || isIPv6(x)).slice(0, 3),
    search: (kv.get('domain') ?? '').split(' ').filter(isDnsName).slice(0, 6),
    at, seconds: Number.isInteger(seconds) && seconds > 0 ? seconds : 3600,
  };
}

export const leaseValid = (l: Lease, now: number): boolean => now < l.at + l.seconds * 1000;

/** Pure: the client's argv for `dev`. */
export function udhcpcArgv(busybox: string, dev: string, dir: string, lastIp?: string): string[] {
  if (!isIfName(dev)) throw new Error(`invalid interface name ${JSON.stringify(dev)}`);
  return [busybox, 'udhcpc', '-f', '-R', '-i', dev, '-s', join(dir, 'udhcpc-hook'), '-p', join(dir, `${dev}.pid`),
    // Discover 3 times 2 s apart, then wait 10 s before trying again, for ever.
    '-t', '3', '-T', '2', '-A', '10', ...(lastIp && isIPv4(lastIp) ? ['-r', lastIp] : [])];
}

/** busybox with its udhcpc applet: busybox-static's, else busybox's. */
export function findBusybox(): string | undefined {
  return ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
}

interface Client { proc?: ChildProcess; restarts: number; timer?: NodeJS.Timeout; stopping?: boolean }

export interface DhcpOptions {
  /** The agent's DHCP directory (0700). */
  dir: string;
  /** The host's namespace, when the agent manages one (the lab). */
  netns?: string;
  busybox?: string;
  log?: (m: string) => void;
  now?: () => number;
}

/** The DHCP clients of a host, one per interface that wants DHCP. */
export class DhcpClients {
  private readonly clients = new Map<string, Client>();
  private readonly busybox: string;
  private watcher?: FSWatcher;
  private closed = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: DhcpOptions) {
    const bb = o.busybox ?? findBusybox();
    if (!bb) throw new Error('no busybox (with udhcpc) found: install busybox-static');
    this.busybox = bb;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    chmodSync(o.dir, 0o700);
    const hook = join(o.dir, 'udhcpc-hook');
    const cur = existsSync(hook) ? readFileSync(hook, 'utf8') : '';
    if (cur !== HOOK_SCRIPT) {
      writeFileSync(`${hook}.tmp`, HOOK_SCRIPT, { mode: 0o700 });
      renameSync(`${hook}.tmp`, hook);
    }
    try {
      this.watcher = watch(o.dir, (_ev, name) => {
        if (typeof name === 'string' && name.endsWith('.lease')) for (const l of this.listeners) l();
      });
      this.watcher.on('error', () => undefined);
    } catch { /* the agent's periodic pass still reads the leases */ }
  }

  private log(m: string): void { this.o.log?.(`dhcp: ${m}`); }

  /** Called when a lease comes, changes or goes; returns an unsubscribe. */
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** The valid lease of `dev`, if any. */
  lease(dev: string): Lease | undefined {
    if (!isIfName(dev)) return undefined;
    const f = join(this.o.dir, `${dev}.lease`);
    try {
      const l = parseLease(readFileSync(f, 'utf8'), statSync(f).mtimeMs);
      return l && leaseValid(l, (this.o.now ?? Date.now)()) ? l : undefined;
    } catch { return undefined; }
  }

  /** Runs a client on each of `devs` and on nothing else (the others release their lease). */
  ensure(devs: Iterable<string>): void {
    if (this.closed) return;
    const want = new Set([...devs].filter(isIfName));
    for (const d of want) if (!this.clients.has(d)) this.start(d);
    void this.retain(want);
  }

  /**
   * Stops, releasing their leases, the clients of devices not in `devs`: before a pass that may
   * remove those devices, so that the release still leaves through them.
   */
  async retain(devs: Iterable<string>): Promise<void> {
    const keep = new Set(devs);
    await Promise.all([...this.clients.keys()].filter((d) => !keep.has(d)).map((d) => this.stop(d, true)));
  }

  /** Devices with a running (or restarting) client. */
  running(): string[] { return [...this.clients.keys()].sort(); }

  /** A client left running by an agent that died is ended (its pid file names it; checked by its argv). */
  private endLeftover(dev: string): void {
    const pidfile = join(this.o.dir, `${dev}.pid`);
    try {
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 1) return;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes('udhcpc') && argv[argv.indexOf('-i') + 1] === dev && argv.includes(join(this.o.dir, 'udhcpc-hook'))) process.kill(pid, 'SIGKILL');
    } catch { /* none, or gone */ }
  }

  private start(dev: string): void {
    const c: Client = this.clients.get(dev) ?? { restarts: 0 };
    this.clients.set(dev, c);
    if (c.restarts === 0) this.endLeftover(dev);
    // The address of the last lease, even an expired one, is asked for again.
    let lastIp: string | undefined;
    try { lastIp = parseLease(readFileSync(join(this.o.dir, `${dev}.lease`), 'utf8'), 0)?.ip; } catch { /* none */ }
    const argv = udhcpcArgv(this.busybox, dev, this.o.dir, lastIp);
    const [cmd, args] = this.o.netns ? ['ip', ['netns', 'exec', this.o.netns, ...argv]] : [argv[0]!, argv.slice(1)];
    const proc = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', XCPNET_DHCP_DIR: this.o.dir },
    });
    c.proc = proc;
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    proc.on('error', (e) => this.log(`${dev}: cannot start udhcpc: ${e.message}`));
    proc.on('close', (code, signal) => {
      if (c.proc !== proc) return;
      c.proc = undefined;
      if (c.stopping || this.closed) return;
      // A crash: started again after 1 s, doubling up to 60 s.
      const delay = Math.min(60_000, 1000 * 2 ** Math.min(c.restarts, 6));
      c.restarts++;
      this.log(`${dev}: udhcpc exited (${signal ?? code}); again in ${delay / 1000} s${err ? `: ${err.trim().split('\n').pop()}` : ''}`);
      c.timer = setTimeout(() => { c.timer = undefined; if (this.clients.get(dev) === c && !this.closed) this.start(dev); }, delay);
      c.timer.unref();
    });
    this.log(`${dev}: udhcpc started (pid ${proc.pid})`);
  }

  /** Stops the client of `dev`; with `release` it gives the lease back and forgets it. */
  async stop(dev: string, release: boolean): Promise<void> {
    const c = this.clients.get(dev);
    if (!c) return;
    this.clients.delete(dev);
    c.stopping = true;
    if (c.timer) clearTimeout(c.timer);
    const p = c.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once('close', () => r()));
      // SIGTERM: udhcpc -R releases the lease as it exits; SIGKILL keeps it for the next client.
      p.kill(release ? 'SIGTERM' : 'SIGKILL');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    if (release) rmSync(join(this.o.dir, `${dev}.lease`), { force: true });
    rmSync(join(this.o.dir, `${dev}.pid`), { force: true });
    this.log(`${dev}: udhcpc stopped${release ? ', lease released' : ''}`);
  }

  /** Stops every client; their leases are kept (the agent stops, the host keeps its addresses). */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    await Promise.all([...this.clients.keys()].map((d) => this.stop(d, false)));
  }
}
