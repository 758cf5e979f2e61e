// The topology view's pages on the API listener: GET /topology/ (the page, its script and
// stylesheet, built into dist/web/topology by scripts/build-web.mjs and held in memory), and, for
// a lab, GET /topology/lab.json (the lab's switch, cables and upstream, which no record holds),
// for a live session only. Records themselves reach the page only through the API, with the
// user's session and role.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PageReply, PageRequest } from '../rpc/listener.js';

/** Where the build puts the assets, from this module in dist/src/server. */
export const TOPOLOGY_ASSETS = fileURLToPath(new URL('../../web/topology/', import.meta.url));

// The page runs only its own script and stylesheet, talks only to this origin, and cannot be framed.
export const TOPOLOGY_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
  + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const ASSETS = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['app.js', 'text/javascript; charset=utf-8'],
  ['app.css', 'text/css; charset=utf-8'],
]);

/** The lab wiring is a few KiB (99 hosts × 99 NICs is under 1 MiB); a bigger file is not one. */
const MAX_WIRING_BYTES = 4 * 1024 * 1024;

export interface TopologyPageOptions {
  /** Default: TOPOLOGY_ASSETS. */
  assetsDir?: string;
  /** The lab's wiring file (`xcpnet serve --lab-wiring`); absent: lab.json is 404. */
  wiringFile?: string;
  /** True for a live session (any role): it may read the lab's wiring. */
  sessionValid: (ref: string) => boolean;
  log?: (line: string) => void;
}

export function topologyPages(opts: TopologyPageOptions): (req: PageRequest) => Promise<PageReply | undefined> {
  const dir = opts.assetsDir ?? TOPOLOGY_ASSETS;
  const assets = new Map<string, Buffer>();
  try {
    for (const name of ASSETS.keys()) assets.set(name, readFileSync(`${dir}/${name}`));
  } catch (e) {
    assets.clear();
    opts.log?.(`xcpnet: the topology view is not built (${(e as Error).message}); run scripts/setup.sh or npm run build`);
  }
  const headers = { 'Content-Security-Policy': TOPOLOGY_CSP };
  const text = (status: number, body: string): PageReply => ({ status, type: 'text/plain; charset=utf-8', body, headers });
  let cached: { mtimeMs: number; size: number; json: string } | undefined;

  async function wiring(req: PageRequest): Promise<PageReply> {
    if (!opts.wiringFile) return text(404, 'this pool is not a lab: it has no wiring to show\n');
    const session = req.headers['x-xenapi-session'];
    if (typeof session !== 'string' || !opts.sessionValid(session)) return text(401, 'log in first: send a live session in X-XenAPI-Session\n');
    try {
      // Loaded on the first request for a lab's wiring, not at every start of serve.
      const [{ readFile, stat }, { parseWiring }] = await Promise.all([import('node:fs/promises'), import('../topology/model.js')]);
      const st = await stat(opts.wiringFile);
      if (st.size > MAX_WIRING_BYTES) return text(500, 'the lab wiring file is too large\n');
      if (!cached || cached.mtimeMs !== st.mtimeMs || cached.size !== st.size) {
        const raw = await readFile(opts.wiringFile, 'utf8');
        cached = { mtimeMs: st.mtimeMs, size: st.size, json: JSON.stringify(parseWiring(JSON.parse(raw))) };
      }
      return { status: 200, type: 'application/json', body: cached.json, headers };
    } catch (e) {
      cached = undefined;
      return text(503, `the lab wiring cannot be read: ${(e as Error).message}\n`);
    }
  }

  return async (req) => {
    if (req.path === '/topology') return { status: 308, type: 'text/plain', body: '', headers: { ...headers, Location: '/topology/' } };
    if (!req.path.startsWith('/topology/')) return undefined;
    const name = req.path.slice('/topology/'.length) || 'index.html';
    if (name === 'lab.json') return wiring(req);
    const type = ASSETS.get(name);
    if (type === undefined) return undefined;
    const body = assets.get(name);
    if (!body) return text(503, 'the topology view is not built on this master: run scripts/setup.sh (or npm run build)\n');
    return { status: 200, type, body, headers };
  };
}
