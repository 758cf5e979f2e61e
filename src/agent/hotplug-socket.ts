// The agent's end of `xcpnet vif-hotplug`: a unix socket only root can reach (born 0600, in the
// agent's 0700 directory), one JSON request line in, one JSON reply line out
// (src/protocol/hotplug.ts). Whoever can connect is root on this host, as for the master's own
// socket; what they send is still checked whole, bounded in size, time and number.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { HOTPLUG_MAX_REQUEST, HotplugRequestError, parseHotplugRequest, type HotplugReply, type HotplugRequest } from '../protocol/hotplug.js';

/** Connections served at once; more are refused (a hypervisor starts a handful of devices at a time). */
const MAX_CONNECTIONS = 32;
/** A client has this long to send its request. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface HotplugSocket { readonly path: string; close(): Promise<void> }

export async function serveHotplug(path: string, handle: (r: HotplugRequest) => Promise<HotplugReply>, log: (m: string) => void = () => {}): Promise<HotplugSocket> {
  // A missing directory is made 0700; an existing one (the operator's --hotplug-socket) is left as it is.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try { if (lstatSync(path).isSocket()) unlinkSync(path); } catch { /* none */ }
  let open = 0;
  const answer = (s: Socket, r: HotplugReply) => { if (!s.destroyed) s.end(`${JSON.stringify(r)}\n`); };
  const server: Server = createServer((s) => {
    if (open >= MAX_CONNECTIONS) { answer(s, { ok: false, error: 'too many hotplug requests at once; try again' }); return; }
    open++;
    s.on('close', () => { open--; });
    s.on('error', () => s.destroy());
    s.setTimeout(REQUEST_TIMEOUT_MS, () => answer(s, { ok: false, error: 'no request received in time' }));
    let buf = Buffer.alloc(0);
    let got = false;
    s.on('data', (chunk: Buffer) => {
      if (got) return;
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0 && buf.length <= HOTPLUG_MAX_REQUEST) return;
      got = true;
      s.setTimeout(0);
      if (nl < 0 || nl > HOTPLUG_MAX_REQUEST) { answer(s, { ok: false, error: `request longer than ${HOTPLUG_MAX_REQUEST} bytes` }); return; }
      let req: HotplugRequest;
      try { req = parseHotplugRequest(JSON.parse(buf.subarray(0, nl).toString('utf8'))); } catch (e) {
        const why = e instanceof HotplugRequestError ? e.message : 'not JSON';
        log(`hotplug request refused: ${why}`);
        answer(s, { ok: false, error: why });
        return;
      }
      handle(req).then((r) => answer(s, r), (e: Error) => answer(s, { ok: false, error: e.message }));
    });
  });
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => { server.off('error', reject); resolve(); }); });
  } finally { process.umask(umask); }
  chmodSync(path, 0o600);
  server.on('error', (e) => log(`hotplug socket: ${e.message}`));
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      try { if (lstatSync(path).isSocket()) unlinkSync(path); } catch { /* gone */ }
    }),
  };
}
