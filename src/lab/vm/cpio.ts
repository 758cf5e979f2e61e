// A cpio archive in the "newc" format, the one the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Pure: entries in, bytes out.
// Every timestamp and owner is 0, so the same entries always give the same archive.

export type CpioEntry =
  | { kind: 'dir'; name: string; mode?: number }
  | { kind: 'file'; name: string; data: Buffer | string; mode?: number }
  | { kind: 'symlink'; name: string; target: string };

const TYPE = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;

const hex8 = (n: number): string => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio: field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
};

const pad4 = (len: number): Buffer => Buffer.alloc((4 - (len % 4)) % 4);

function record(ino: number, mode: number, nlink: number, name: string, data: Buffer): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`);
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const header = Buffer.from('070701' + [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0].map(hex8).join(''), 'ascii');
  return [header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)];
}

/** The archive, entries in the order given (a directory must come before what it holds). */
export function buildCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (!/^[^/\0][^\0]*$/.test(e.name) || e.name.split('/').includes('..')) throw new Error(`cpio: bad entry name ${JSON.stringify(e.name)}`);
    if (seen.has(e.name)) throw new Error(`cpio: duplicate entry ${e.name}`);
    seen.add(e.name);
    const ino = i + 1;
    if (e.kind === 'dir') parts.push(...record(ino, TYPE.dir | (e.mode ?? 0o755), 2, e.name, Buffer.alloc(0)));
    else if (e.kind === 'file') parts.push(...record(ino, TYPE.file | (e.mode ?? 0o644), 1, e.name, Buffer.from(e.data)));
    else parts.push(...record(ino, TYPE.symlink | 0o777, 1, e.name, Buffer.from(e.target)));
  });
  parts.push(...record(0, 0, 1, 'TRAILER!!!', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
