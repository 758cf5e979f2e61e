// The host side of confirming a management change (src/agent/confirm.ts): a snapshot of the
// layer 3 state before the change, putting it back for the NICs the change took over, and the
// reachability probe: a TCP connection to the master's XenAPI port, or, when the master is
// reached without the network (its unix socket, loopback: the master's own host, the lab), a
// ping of the management gateway.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { isIPv4, isIPv6 } from '../../common/net-syntax.js';
import { planRestore, readL3, runBatch, type L3State } from './l3.js';

export interface ManagementHooks {
  snapshot(): Promise<L3State>;
  /** Gives `nics` back what they held in `before` (after the previous switch config is back). */
  restore(before: L3State, nics: string[]): Promise<void>;
  /** One bounded reachability probe; `gateway`: the new configuration's default gateway. */
  probe(gateway?: string): Promise<boolean>;
  /** What the probe reaches, for messages. */
  target(gateway?: string): string;
}

/** Pure: the master's host and port when it is reached over the network, else undefined. */
export function masterEndpoint(target: string): { host: string; port: number } | undefined {
  let u: URL;
  try { u = new URL(target); } catch { return undefined; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || /^127\./.test(host) || host === '::1') return undefined;
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { host, port };
}

export function tcpReachable(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { clearTimeout(t); s.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function pingReachable(netns: string | undefined, addr: string, timeoutS = 2): Promise<boolean> {
  if (!isIPv4(addr) && !isIPv6(addr)) return Promise.resolve(false);
  const argv = ['-n', '-c', '1', '-W', String(timeoutS), addr];
  const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, 'ping', ...argv]] : ['ping', argv];
  return new Promise((resolve) => {
    execFile(cmd, args as string[], { timeout: (timeoutS + 3) * 1000 }, (err) => resolve(!err));
  });
}

/** @param o.master the master's target (unix:PATH or a URL), or a function giving it now (it follows pool membership). */
export function linuxManagementHooks(o: { netns?: string; master: string | (() => string) }): ManagementHooks {
  const endpoint = () => masterEndpoint(typeof o.master === 'function' ? o.master() : o.master);
  return {
    snapshot: () => readL3(o.netns),
    async restore(before, nics) {
      await runBatch(o.netns, planRestore(before, await readL3(o.netns), nics));
    },
    async probe(gateway) {
      const ep = endpoint();
      if (ep) return tcpReachable(ep.host, ep.port);
      // The master is not behind the network: the gateway stands for the outside world; with
      // none configured there is nothing to lose.
      return gateway ? pingReachable(o.netns, gateway) : true;
    },
    target: (gateway) => { const ep = endpoint(); return ep ? `the master at ${ep.host}:${ep.port}` : gateway ? `the gateway ${gateway}` : 'nothing (no gateway)'; },
  };
}
