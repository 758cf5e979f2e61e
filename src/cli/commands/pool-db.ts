// xe pool-dump-database / pool-restore-database: the file lives on the client's side, as with
// the real xe (which streams it over HTTP); the server gives the dump as text and takes it in
// parts (the wire takes no large request).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CliFailure, parseBool } from '../args.js';
import { opt, req, type Command } from '../command.js';
import type { Caller } from '../fields.js';

/** Characters per upload call: a part stays within the wire's string limit even when escaped. */
export const UPLOAD_PART_CHARS = 16 * 1024;

/** Sends a dump to the server in parts (the wire takes no large request). */
export async function uploadDump(c: Caller, text: string): Promise<void> {
  for (let i = 0; i === 0 || i < text.length; i += UPLOAD_PART_CHARS) {
    await c.call('pool.restore_database_upload', text.slice(i, i + UPLOAD_PART_CHARS), i === 0);
  }
}

export const POOL_DB_COMMANDS: Command[] = [
  {
    name: 'pool-dump-database', reqd: ['file-name'], optn: [],
    help: 'Download a dump of the pool database (a consistent snapshot; no user accounts) into a file readable by its owner only.',
    run: async (env) => {
      const file = req(env, 'file-name');
      const c = await env.client();
      const dump = await c.call<string>('pool.dump_database');
      try {
        // A new file of mode 0600: the dump describes the whole pool.
        rmSync(file, { force: true });
        writeFileSync(file, dump, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        throw new CliFailure(`cannot write ${file}: ${(e as Error).message}`);
      }
    },
  },
  {
    name: 'pool-restore-database', reqd: ['file-name'], optn: ['dry-run'],
    help: 'Restore a dump of the pool database to the server; dry-run=true only checks it.',
    run: async (env) => {
      const file = req(env, 'file-name');
      const dryRun = parseBool('dry-run', opt(env, 'dry-run', 'false'));
      let text: string;
      try { text = readFileSync(file, 'utf8'); } catch (e) { throw new CliFailure(`cannot read ${file}: ${(e as Error).message}`); }
      const c = await env.client();
      await uploadDump(c, text);
      await c.call('pool.restore_database', dryRun);
      if (dryRun) env.out('Dry run: the dump is valid; nothing was restored.\n');
    },
  },
];
