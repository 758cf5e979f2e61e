// The content of blobs: `GET` and `PUT /blob?ref=…` (or `uuid=`), as xapi's handler
// (xen-api: ocaml/xapi/xapi_blob.ml): a public blob is read without a session, anything else
// needs `session_id=` with xapi's roles (get_blob read-only, put_blob vm-power-admin). Bodies
// are streamed to and from files in `<state-dir>/blobs`, one per blob uuid, never held in memory;
// a body is bounded in size (413) and so are all blobs together.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../common/api-error.js';
import { isUuid } from '../common/net-syntax.js';
import type { Role } from '../idl/meta.js';
import type { Impl, ImplTable } from './context.js';
import type { XapiServer } from './server.js';

/** One blob's content (xapi has no bound: its blobs are small, RRDs and the like). */
export const MAX_BLOB_BYTES = 16 * 1024 * 1024;
/** All blobs' contents together. */
export const MAX_BLOBS_TOTAL_BYTES = 256 * 1024 * 1024;

const ROLE: Record<'get' | 'put', Role> = { get: 'read-only', put: 'vm-power-admin' };

function reply(res: ServerResponse, status: number, text: string, close = false): void {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...(close ? { Connection: 'close' } : {}) });
  res.end(text);
}

export interface BlobStore {
  /** The `/blob` handler for the listener. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Removes a blob's content (blob.destroy, after the record). */
  removeContent(uuid: string): Promise<void>;
}

/** blob.destroy as `xcpnet serve` runs it: the rule that removes the record, then the content. */
export function blobDestroy(destroyRecord: Impl | undefined, blobs: () => BlobStore): ImplTable {
  if (!destroyRecord) return {};
  return {
    'blob.destroy': async (ctx, a) => {
      const uuid = String(ctx.services.store.get('blob', String(a.self)).uuid);
      await destroyRecord(ctx, a);
      await blobs().removeContent(uuid);
    },
  };
}

export function blobStore(server: XapiServer, dir: string): BlobStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A uuid comes from a record (a restored dump may hold anything): only a uuid names a file.
  const fileOf = (uuid: string) => { if (!isUuid(uuid)) throw new Error(`blob uuid ${JSON.stringify(uuid)} is not a uuid`); return join(dir, uuid); };
  const store = server.store;

  /** The session's user may do `what`, or an HTTP status and reason. */
  function allowed(session: string | null, what: 'get' | 'put'): [number, string] | undefined {
    try {
      server.sessions.authorise(server.sessions.check(session), ROLE[what], `http/${what}_blob`);
      return undefined;
    } catch (e) {
      if (!ApiError.is(e)) throw e;
      return [403, `${e.code}\n`];
    }
  }

  async function get(res: ServerResponse, uuid: string, mime: string, head: boolean): Promise<void> {
    let size: number;
    try { size = (await stat(fileOf(uuid))).size; } catch { reply(res, 404, 'No content\n'); return; }
    res.writeHead(200, { 'Content-Type': mime, 'Content-Length': size });
    if (head) { res.end(); return; }
    // Not awaited: the request is answered once the reply is under way, so that the client's
    // next request on this connection is not taken for a pipelined one (the listener refuses those).
    if (size === 0) { res.end(); return; }
    pipeline(createReadStream(fileOf(uuid), { start: 0, end: size - 1 }), res).catch(() => res.destroy());
  }

  async function put(req: IncomingMessage, res: ServerResponse, ref: string, uuid: string): Promise<void> {
    const header = req.headers['content-length'];
    if (header === undefined || !/^\d{1,12}$/.test(header)) { reply(res, 411, 'A blob is sent with its Content-Length\n', true); return; }
    const length = Number(header);
    const others = [...store.all('blob')].reduce((n, [r, b]) => n + (r === ref ? 0 : Number(b.size)), 0);
    if (length > MAX_BLOB_BYTES || others + length > MAX_BLOBS_TOTAL_BYTES) {
      reply(res, 413, `A blob holds at most ${MAX_BLOB_BYTES} bytes, all blobs ${MAX_BLOBS_TOTAL_BYTES}\n`, true);
      return;
    }
    // Written aside, then renamed over the content: a failed upload leaves the old one.
    const part = join(dir, `${uuid}.part-${randomUUID()}`);
    let got = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        got += chunk.length;
        done(got > length ? new Error('body longer than its Content-Length') : null, chunk);
      },
    });
    try {
      await pipeline(req, counter, createWriteStream(part, { mode: 0o600 }));
      if (got !== length) throw new Error('body shorter than its Content-Length');
      if (!store.find('blob', ref)) { reply(res, 404, 'Unknown reference\n'); return; }
      await rename(part, fileOf(uuid));
    } catch {
      await rm(part, { force: true });
      reply(res, 400, 'The upload did not complete\n', true);
      return;
    } finally {
      await rm(part, { force: true });
    }
    if (!store.find('blob', ref)) { await rm(fileOf(uuid), { force: true }); reply(res, 404, 'Unknown reference\n'); return; }
    store.transact((tx) => tx.update('blob', ref, { size: length, last_updated: compactTime(Date.now()) }));
    await store.settled();
    reply(res, 200, '');
  }

  return {
    async handle(req, res) {
      const query = new URL(req.url ?? '/', 'http://blob').searchParams;
      const byRef = query.get('ref');
      const byUuid = query.get('uuid');
      if (byRef === null && byUuid === null) { reply(res, 400, 'A blob is named by ref= or uuid=\n', true); return; }
      const ref = byRef !== null && store.find('blob', byRef) ? byRef : byUuid !== null ? store.refOfUuidIn('blob', byUuid) : undefined;
      const method = req.method ?? '';
      if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT') { reply(res, 405, 'GET or PUT\n', true); return; }
      if (ref === undefined) { reply(res, 404, 'Unknown reference\n', method === 'PUT'); return; }
      const blob = store.get('blob', ref);
      const what = method === 'PUT' ? 'put' : 'get';
      if (!(what === 'get' && blob.public === true)) {
        const refused = allowed(query.get('session_id'), what);
        if (refused) { reply(res, refused[0], refused[1], what === 'put'); return; }
      }
      if (!isUuid(String(blob.uuid))) { reply(res, 404, 'No content\n', what === 'put'); return; }
      if (what === 'put') await put(req, res, ref, String(blob.uuid));
      else await get(res, String(blob.uuid), String(blob.mime_type), method === 'HEAD');
    },
    removeContent: async (uuid) => { if (isUuid(uuid)) await rm(fileOf(uuid), { force: true }); },
  };
}

function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-]/g, '').replace(/\.\d+Z$/, 'Z');
}
