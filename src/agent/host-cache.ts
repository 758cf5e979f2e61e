// The last host configuration the agent realised, kept on local disk, as xcp-networkd keeps its
// own database: a host that boots while the master is unreachable brings its management
// interface and networks up from this copy, and an agent restarted during a master outage
// finds what it had. One JSON file, mode 0600 in a 0700 directory, replaced atomically
// (written aside, flushed, renamed), so a crash leaves the old copy or the new one, never half.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir } from '../common/private-files.js';

/** Bumped whenever the shape of `config` changes: a copy of another format is ignored. */
export const CACHE_FORMAT = 1;
const FILE = 'host-config.json';
/** A copy larger than this is not read (a pool's host document is far smaller). */
const MAX_BYTES = 64 * 1024 * 1024;

export interface CachedHost<C = unknown> {
  format: number;
  hostUuid: string;
  /** The host's ref on the master when this was saved. */
  hostRef: string;
  /** The event generation the configuration was compiled at. */
  generation: number;
  savedAt: string;
  config: C;
}

export interface HostCache<C = unknown> {
  /** The saved copy, or undefined when there is none usable (the reason is logged). */
  load(): CachedHost<C> | undefined;
  save(entry: Omit<CachedHost<C>, 'format' | 'savedAt'>): void;
}

export class FileHostCache<C> implements HostCache<C> {
  readonly file: string;

  /**
   * @param isConfig checks the shape of a loaded configuration (the file may be damaged or older).
   * @param hostRef this host's ref on the master it logs in to now, when known: a copy saved under
   *   another ref is another pool's configuration of the host (a host keeps its uuid when it joins
   *   or leaves a pool, and gets a new ref) and is not realised.
   */
  constructor(readonly dir: string, private readonly hostUuid: string, private readonly isConfig: (v: unknown) => v is C,
    private readonly log: (m: string) => void = () => {}, private readonly hostRef?: string) {
    this.file = join(dir, FILE);
  }

  load(): CachedHost<C> | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log(`host configuration copy ${this.file} not read: ${(e as Error).message}`);
      return undefined;
    }
    if (text.length > MAX_BYTES) { this.log(`host configuration copy ${this.file} ignored: larger than ${MAX_BYTES} bytes`); return undefined; }
    let v: Partial<CachedHost>;
    try { v = JSON.parse(text) as Partial<CachedHost>; } catch { this.log(`host configuration copy ${this.file} ignored: not JSON`); return undefined; }
    const why = v === null || typeof v !== 'object' ? 'not an object'
      : v.format !== CACHE_FORMAT ? `format ${String(v.format)}, not ${CACHE_FORMAT}`
      : v.hostUuid !== this.hostUuid ? `it is host ${String(v.hostUuid)}'s, not ${this.hostUuid}'s`
      : typeof v.hostRef !== 'string' || typeof v.generation !== 'number' || typeof v.savedAt !== 'string' ? 'fields missing'
      : this.hostRef !== undefined && v.hostRef !== this.hostRef ? `it was saved in another pool (this host was ${v.hostRef} there, is ${this.hostRef} now)`
      : !this.isConfig(v.config) ? 'the configuration is not of the expected shape'
      : undefined;
    if (why) { this.log(`host configuration copy ${this.file} ignored: ${why}`); return undefined; }
    return v as CachedHost<C>;
  }

  save(entry: Omit<CachedHost<C>, 'format' | 'savedAt'>): void {
    privateDir(this.dir);
    const full: CachedHost<C> = { format: CACHE_FORMAT, ...entry, savedAt: new Date().toISOString() };
    const tmp = `${this.file}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify(full));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
