// The agent's local XenAPI endpoint: a root-only unix socket (0600, in the agent's 0700 state
// directory), what `xe` on a pool member talks to, as xapi's local socket on an XCP member. It
// answers the calls a member answers itself, above all when it cannot reach its master
// (emergency mode): `host.local_management_reconfigure` (`xe host-emergency-management-reconfigure
// interface=<bridge>`), `host.is_in_emergency_mode` (`xe host-is-in-emergency-mode`) and
// `host.reset_networking_local` (`xcpnet reset-networking`). Anything else gets HOST_IS_SLAVE
// naming the master, as on XCP. The socket is trusted like xapi's: any login succeeds on it.
import { randomUUID } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { ApiError } from '../common/api-error.js';

/** What the agent does for the local calls. */
export interface LocalHost {
  /** True while the agent cannot reach its master (the reason, for logs). */
  inEmergency(): boolean;
  /** The master's address (HOST_IS_SLAVE's parameter). */
  master(): string;
  /** Management on the PIF of this host whose network has this bridge, with its recorded IP configuration. */
  localManagement(bridge: string): Promise<void>;
  /** Management on the PIF of NIC `device` with this IP configuration; every other PIF left down. */
  resetNetworking(cfg: ResetConfig): Promise<void>;
}

export interface ResetConfig {
  device: string;
  mode: 'DHCP' | 'Static';
  IP: string;
  netmask: string;
  gateway: string;
  DNS: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Pure: the answer to one call (a result, or an ApiError to throw). */
export async function answer(host: LocalHost, method: string, params: unknown[]): Promise<unknown> {
  switch (method) {
    case 'session.login_with_password': case 'session.slave_local_login_with_password':
      return `OpaqueRef:${randomUUID()}`;
    case 'session.logout': case 'session.local_logout':
      return '';
    case 'host.is_in_emergency_mode':
      return host.inEmergency();
    case 'host.local_management_reconfigure': {
      if (!host.inEmergency()) throw new ApiError('NOT_IN_EMERGENCY_MODE', []);
      await host.localManagement(str(params[1]));
      return '';
    }
    case 'host.reset_networking_local': {
      const [, device, mode, IP, netmask, gateway, DNS] = params.map(str);
      if (mode !== 'DHCP' && mode !== 'Static') throw new ApiError('INVALID_VALUE', ['mode', String(params[2])]);
      await host.resetNetworking({ device: device!, mode, IP: IP!, netmask: netmask!, gateway: gateway!, DNS: DNS! });
      return '';
    }
    default:
      throw new ApiError('HOST_IS_SLAVE', [host.master()]);
  }
}

/** Serves JSON-RPC on `socket` (removed first when left over; 0600). */
export async function serveLocalApi(socket: string, host: LocalHost, log: (m: string) => void = () => {}): Promise<{ close(): Promise<void> }> {
  rmSync(socket, { force: true });
  const server: Server = createServer((req, res) => {
    let body = '';
    let size = 0;
    req.setEncoding('utf8');
    req.on('data', (d: string) => { size += d.length; if (size > 65536) req.destroy(); else body += d; });
    req.on('end', () => {
      let id: unknown = null;
      const reply = (o: object) => {
        const text = JSON.stringify({ jsonrpc: '2.0', id, ...o });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      void (async () => {
        try {
          const msg = JSON.parse(body) as { id?: unknown; method?: unknown; params?: unknown };
          id = msg.id ?? null;
          const params = Array.isArray(msg.params) ? msg.params : [];
          reply({ result: await answer(host, String(msg.method ?? ''), params) });
        } catch (e) {
          const err = e instanceof ApiError ? e : new ApiError('INTERNAL_ERROR', [(e as Error).message]);
          if (!(e instanceof ApiError)) log(`local API: ${(e as Error).message}`);
          reply({ error: { code: 1, message: err.code, data: err.params } });
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(socket, () => resolve()); });
  chmodSync(socket, 0o600);
  return { close: () => new Promise<void>((r) => server.close(() => { rmSync(socket, { force: true }); r(); })) };
}
