// Files only their owner may read: the master's state directory and database, the lab's state,
// logs and password file. Modes are set explicitly, whatever the umask of whoever starts us.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';

/**
 * Makes `dir` (and any missing parent) with mode 0700; an existing directory open to others is
 * tightened to 0700. Returns the mode it had when it was tightened, for a log line.
 */
export function privateDir(dir: string): number | undefined {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return tighten(dir, 0o700);
}

/** Creates `file` empty with mode 0600 unless it exists; an existing file open to others becomes 0600. */
export function privateFile(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  tighten(file, 0o600);
}

/** Writes `text` to a new file of mode 0600 (an earlier file of that name is replaced). */
export function writePrivateFile(file: string, text: string): void {
  rmSync(file, { force: true });
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
}

/**
 * Replaces `file` whole with a file of mode 0600: written aside, then renamed over it, so a
 * reader (a daemon reloading its key or certificate) sees the old file or the new, never a part.
 */
export function replacePrivateFile(file: string, text: string): void {
  writePrivateFile(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

/** The text of `file`, or undefined when there is none. */
export const readIfExists = (file: string): string | undefined => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);

/** chmod to `mode` when group or others have any access; the old mode when it changed. */
export function tighten(path: string, mode: number): number | undefined {
  const old = statSync(path).mode & 0o777;
  if ((old & 0o077) === 0) return undefined;
  chmodSync(path, mode);
  return old;
}
