// bench/sdn's measured half of OVN: real OVN central daemons (northbound and southbound
// ovsdb-server, ovn-northd) in a temporary directory, as the user running the bench (no root, no
// switch). xcpnet's northbound writer (desiredNb/planNb through its own OVSDB client) writes the
// pool; each host's chassis is registered in the southbound database and claims its ports as
// ovn-controller would (one transaction per host: Chassis, Chassis_Private, Encap, the bindings);
// `ovn-nbctl --wait=sb sync` waits until ovn-northd has caught up. What everyone writes to the
// southbound database is read back from its file, one record per committed transaction.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PoolRecords } from '../src/agent/records.js';
import { OvsdbClient, type Monitor } from '../src/backends/ovsdb/index.js';
import * as ops from '../src/backends/ovsdb/ops.js';
import { desiredNb, planNb, type NbRow } from '../src/sdn/ovn-nb.js';

const run = promisify(execFile);
const CHASSIS_COMMENT = 'bench: a chassis registers and claims its ports, as ovn-controller';

/** Transactions and rows in a stretch of a standalone OVSDB file. */
export interface Written { transactions: number; rows: number; tables: Record<string, number> }
const merge = (a: Written, b: Written, sign: 1 | -1): Written => {
  const tables = { ...a.tables };
  for (const [t, n] of Object.entries(b.tables)) tables[t] = (tables[t] ?? 0) + sign * n;
  for (const t of Object.keys(tables)) if (tables[t] === 0) delete tables[t];
  return { transactions: a.transactions + sign * b.transactions, rows: a.rows + sign * b.rows, tables };
};
const add = (a: Written, b: Written): Written => merge(a, b, 1);
const minus = (a: Written, b: Written): Written => merge(a, b, -1);

/**
 * Pure: the records of a standalone database file's text from a record boundary
 * (`OVSDB JSON <length> <hash>` then <length> bytes of JSON and newline), split into the chassis' (our comment) and the
 * others' (ovn-northd's); rows = row entries under each table.
 */
export function countRecords(text: Buffer): { chassis: Written; others: Written } {
  const out: { chassis: Written; others: Written } = { chassis: { transactions: 0, rows: 0, tables: {} }, others: { transactions: 0, rows: 0, tables: {} } };
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf(0x0a, at);
    if (nl < 0) break;
    const m = /^OVSDB JSON (\d+) [0-9a-f]+$/.exec(text.subarray(at, nl).toString('latin1'));
    if (!m) throw new Error(`not an OVSDB record header at byte ${at}`);
    const body = JSON.parse(text.subarray(nl + 1, nl + 1 + Number(m[1])).toString('utf8')) as Record<string, unknown>;
    // The length counts the JSON's closing newline.
    at = nl + 1 + Number(m[1]);
    const who = body._comment === CHASSIS_COMMENT ? out.chassis : out.others;
    who.transactions++;
    for (const [k, v] of Object.entries(body)) {
      if (k.startsWith('_') || !v || typeof v !== 'object') continue;
      const n = Object.keys(v).length;
      who.rows += n;
      who.tables[k] = (who.tables[k] ?? 0) + n;
    }
  }
  return out;
}

export interface SouthboundJoin {
  /** xcpnet's northbound transaction for the join, and its operations. */
  nb: { transactions: number; ops: number };
  /** ovn-northd's southbound writes, after the northbound pass and after the chassis claimed its ports. */
  northd: Written;
  /** The joiner's chassis registration and port claims (what ovn-controller writes). */
  chassis: Written;
}

/** Central daemons in a temporary directory: started, used, stopped (only the children started here). */
export class BenchCentral {
  private constructor(readonly dir: string, private readonly procs: ChildProcess[], readonly nb: OvsdbClient, readonly sb: OvsdbClient,
    private readonly nbMon: Monitor) {}

  static async start(): Promise<BenchCentral> {
    const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-ovn-'));
    const procs: ChildProcess[] = [];
    try {
      for (const [db, schema] of [['nb', '/usr/share/ovn/ovn-nb.ovsschema'], ['sb', '/usr/share/ovn/ovn-sb.ovsschema']] as const) {
        await run('ovsdb-tool', ['create', join(dir, `${db}.db`), schema]);
        procs.push(spawn('ovsdb-server', [join(dir, `${db}.db`), `--remote=punix:${join(dir, `${db}.sock`)}`, '--no-chdir',
          `--unixctl=${join(dir, `${db}.ctl`)}`, `--log-file=${join(dir, `${db}.log`)}`], { stdio: 'ignore' }));
      }
      const nb = await OvsdbClient.connect(`unix:${join(dir, 'nb.sock')}`, { connectTimeoutMs: 10_000 });
      const sb = await OvsdbClient.connect(`unix:${join(dir, 'sb.sock')}`, { connectTimeoutMs: 10_000 });
      procs.push(spawn('ovn-northd', [`--ovnnb-db=unix:${join(dir, 'nb.sock')}`, `--ovnsb-db=unix:${join(dir, 'sb.sock')}`, '--no-chdir',
        `--unixctl=${join(dir, 'northd.ctl')}`, `--log-file=${join(dir, 'northd.log')}`], { stdio: 'ignore' }));
      const nbMon = await nb.monitor('OVN_Northbound', {
        NB_Global: ['name'], Logical_Switch: ['name', 'ports', 'external_ids'],
        Logical_Switch_Port: ['name', 'addresses', 'port_security', 'enabled', 'external_ids'],
      });
      // ovn-northd makes the NB_Global row when there is none.
      await nbMon.waitFor((r) => r.rows('NB_Global').length > 0, 10_000, 'ovn-northd\'s NB_Global row');
      return new BenchCentral(dir, procs, nb, sb, nbMon);
    } catch (e) {
      for (const p of procs) p.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** xcpnet's northbound pass (as the master's): the operations written, in one transaction. */
  async nbPass(records: PoolRecords): Promise<number> {
    const r = this.nbMon.replica;
    const plan = planNb(desiredNb(records), { switches: r.rows('Logical_Switch') as NbRow[], ports: r.rows('Logical_Switch_Port') as NbRow[] });
    if (plan.ops.length) {
      await this.nb.transact('OVN_Northbound', [...plan.ops, ops.comment('xcpnet master: northbound pass')]);
      await this.nbMon.synced();
    }
    return plan.ops.length;
  }

  /** Until ovn-northd has put every northbound change into the southbound database. */
  async settle(): Promise<void> {
    await run('ovn-nbctl', [`--db=unix:${join(this.dir, 'nb.sock')}`, '--timeout=60', '--wait=sb', 'sync'], { timeout: 70_000 });
  }

  /** Host `uuid` registers its chassis (encapsulation `ip`) and claims the ports of its VIFs, in one transaction. */
  async chassis(uuid: string, ip: string, vifUuids: string[]): Promise<void> {
    await this.sb.transact('OVN_Southbound', [
      ops.insert('Encap', { type: 'vxlan', ip, chassis_name: uuid, options: { csum: 'true' } }, 'encap'),
      ops.insert('Chassis', { name: uuid, hostname: uuid, encaps: ['encap'] }, 'ch'),
      ops.insert('Chassis_Private', { name: uuid, chassis: 'ch' }),
      ...vifUuids.map((v) => ops.update('Port_Binding', [['logical_port', '==', v]], { chassis: 'ch', up: true })),
      ops.comment(CHASSIS_COMMENT),
    ]);
  }

  /** Where the southbound file ends now (a record boundary: every commit is written whole). */
  sbEnd(): number { return statSync(join(this.dir, 'sb.db')).size; }

  sbWritten(from: number, to: number): { chassis: Written; others: Written } {
    const buf = Buffer.alloc(to - from);
    const fd = openSync(join(this.dir, 'sb.db'), 'r');
    try { readSync(fd, buf, 0, buf.length, from); } finally { closeSync(fd); }
    return countRecords(buf);
  }

  stop(): void {
    this.nb.close();
    this.sb.close();
    for (const p of this.procs) p.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A pool of hosts on OVN (`records` before the join, `join()` adds the joiner to them): every host
 * a chassis with its ports claimed; then the join measured. `hosts` lists each host's uuid, its
 * encapsulation address and its VIFs' uuids (the joiner's after join()).
 */
export async function measureSouthboundJoin(records: PoolRecords, hosts: () => { uuid: string; ip: string; vifs: string[] }[],
  join: () => void): Promise<SouthboundJoin> {
  const c = await BenchCentral.start();
  try {
    await c.nbPass(records);
    await c.settle();
    for (const h of hosts()) await c.chassis(h.uuid, h.ip, h.vifs);
    await c.settle();
    // What a settle costs by itself (ovn-northd acknowledges the northbound's nb_cfg), subtracted below.
    let at = c.sbEnd();
    await c.settle();
    const idle = c.sbWritten(at, at = c.sbEnd()).others;
    join();
    const nbOps = await c.nbPass(records);
    await c.settle();
    const afterNb = c.sbWritten(at, at = c.sbEnd());
    const joiner = hosts().at(-1)!;
    await c.chassis(joiner.uuid, joiner.ip, joiner.vifs);
    await c.settle();
    const afterClaim = c.sbWritten(at, c.sbEnd());
    return {
      nb: { transactions: nbOps > 0 ? 1 : 0, ops: nbOps },
      northd: add(minus(afterNb.others, idle), minus(afterClaim.others, idle)),
      chassis: add(afterNb.chassis, afterClaim.chassis),
    };
  } finally {
    c.stop();
  }
}
