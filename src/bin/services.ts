// `xcpnet install-services` / `xcpnet remove-services`: systemd units for the pool master and the
// host agent, running this very copy of xcpnet with this node. --root DIR writes under DIR (a
// system image, tests) and leaves systemd alone; without it, systemd is told (daemon-reload).
//
// Places (FHS): /var/lib/xcpnet (StateDirectory, 0700: database, the agent's copy of its host
// configuration), /run/xcpnet (RuntimeDirectory of the master, 0700: the root-only API socket),
// /etc/xcpnet (0700: master.conf and agent.conf, written once and never overwritten).
// Logs go to the journal (standard output and error of a service).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { privateDir } from '../common/private-files.js';
import { FHS } from '../common/paths.js';
import { MEMBER_FILE } from '../protocol/pool-member.js';

export const UNITS = { master: 'xcpnet-master.service', agent: 'xcpnet-agent.service' } as const;
const UNIT_DIR = 'etc/systemd/system';

export interface ServiceOptions {
  /** Node's executable (default: the one running this). */
  node?: string;
  /** xcpnet's entry point (default: dist/src/bin/xcpnet.js of this copy). */
  entry?: string;
}

/** A path systemd takes as one word without quoting or specifier expansion. */
function plainPath(p: string, what: string): string {
  if (!/^\/[A-Za-z0-9._/+-]*$/.test(p)) {
    throw new Error(`${what} ${JSON.stringify(p)} has characters a unit file would need quoted; install xcpnet under a plain path (letters, digits, . _ - + /)`);
  }
  return p;
}

/**
 * Pure: what each service runs, as the words of its ExecStart (before systemd's substitution of
 * `${VAR}` and `$VAR`, see expandExec). One place for the unit files and the lab, which starts
 * hosts as installed (`lab up --services`) with these very commands.
 *
 * The agent follows the host's pool membership itself (--membership: the pool-member.json that
 * the master unit's serve writes at `xe pool-join` in its state directory): on a pool master or a
 * standalone host it talks to the local socket; on a member, to the pool's master with the
 * host's credential and the trust recorded at the join; after an eject, to the local socket
 * again. agent.conf never needs changing for that.
 */
export function serviceCommands(o: ServiceOptions = {}): { master: string[]; agent: string[] } {
  const node = plainPath(o.node ?? process.execPath, 'node');
  const entry = plainPath(o.entry ?? fileURLToPath(new URL('./xcpnet.js', import.meta.url)), 'xcpnet');
  return {
    // The master's own host is realised by xcpnet-agent.service, like every other host.
    master: [node, entry, 'serve', '--no-agent', '$XCPNET_SERVE_OPTS'],
    agent: [node, entry, 'agent', '--master', '${XCPNET_MASTER}', '--host', '${XCPNET_HOST}', '--credential-file', '${XCPNET_CREDENTIAL_FILE}',
      '--membership', `\${XCPNET_STATE_DIR}/${MEMBER_FILE}`, '--manage-nics', '$XCPNET_AGENT_OPTS'],
  };
}

/**
 * Pure: systemd's substitution in ExecStart (systemd.service(5), "Command lines"): `${VAR}` is
 * replaced by the value as it is, inside one word; a word that is exactly `$VAR` becomes the
 * value split at whitespace (none when it is empty). Unset variables are empty.
 */
export function expandExec(words: string[], env: Record<string, string | undefined>): string[] {
  return words.flatMap((w) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole) return (env[whole[1]!] ?? '').split(/\s+/).filter(Boolean);
    return [w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, k: string) => env[k] ?? '')];
  });
}

/**
 * Pure: a settings file as systemd's EnvironmentFile= reads the simple ones written here:
 * KEY=VALUE lines, # comments, blank lines; a value in double quotes loses them.
 */
export function readEnvironmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m || /^\s*#/.test(line)) continue;
    const v = m[2]!.trim();
    out[m[1]!] = /^".*"$/.test(v) ? v.slice(1, -1) : v;
  }
  return out;
}

/** Pure: the two unit files. */
export function unitFiles(o: ServiceOptions = {}): Record<string, string> {
  const cmd = serviceCommands(o);
  const common = (lines: string[]) => lines.join('\n') + '\n';
  const service = [
    // Readiness is sent by systemd-notify, a child of the service's main process.
    'Type=notify', 'NotifyAccess=all',
    'Restart=on-failure', 'RestartSec=2s', 'TimeoutStartSec=60s',
    `StateDirectory=xcpnet`, 'StateDirectoryMode=0700',
    'UMask=0077',
  ];
  return {
    [UNITS.master]: common([
      '[Unit]',
      'Description=xcpnet pool master (XenAPI server)',
      'After=network-online.target openvswitch-switch.service',
      'Wants=network-online.target',
      '',
      '[Service]',
      ...service,
      'RuntimeDirectory=xcpnet', 'RuntimeDirectoryMode=0700',
      'ConfigurationDirectory=xcpnet', 'ConfigurationDirectoryMode=0700',
      `Environment=XCPNET_STATE_DIR=${FHS.state} XCPNET_RUN_DIR=${FHS.run} XCPNET_CONF_DIR=${FHS.conf}`,
      `EnvironmentFile=-${FHS.conf}/master.conf`,
      `ExecStart=${cmd.master.join(' ')}`,
      '',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
    [UNITS.agent]: common([
      '[Unit]',
      'Description=xcpnet host agent (realises the pool\'s networks on Open vSwitch)',
      'After=openvswitch-switch.service xcpnet-master.service',
      'Wants=openvswitch-switch.service',
      `ConditionPathExists=${FHS.conf}/agent.conf`,
      '',
      '[Service]',
      ...service,
      // Stopping or restarting the agent must leave the host's networking as it is, including
      // what the agent started that outlives it (a DHCP client keeping its lease).
      'KillMode=process',
      `Environment=XCPNET_STATE_DIR=${FHS.state} XCPNET_CONF_DIR=${FHS.conf}`,
      `EnvironmentFile=${FHS.conf}/agent.conf`,
      `ExecStart=${cmd.agent.join(' ')}`,
      '',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
  };
}

/** Pure: the settings files written at the first install (never overwritten). */
export function confFiles(o: { master?: string; host?: string } = {}): Record<string, string> {
  return {
    'master.conf': [
      '# xcpnet-master.service: options of `xcpnet serve`. XenAPI over HTTPS on port 443 of every',
      '# address, as xapi (--listen 127.0.0.1:443 keeps it to this machine; a pool master must be',
      '# reachable by its members). To join a pool, add how this host trusts the master\'s',
      '# certificate: --master-fingerprint SHA256 (xcpnet cert-fingerprint on the master) or',
      '# --master-ca-file FILE; then systemctl restart xcpnet-master and xe pool-join.',
      '# The root password is generated at the first start into /var/lib/xcpnet/root-password (0600).',
      `XCPNET_SERVE_OPTS=--listen 0.0.0.0:443 --agent-credential-file ${FHS.state}/agent-credential`,
      '',
    ].join('\n'),
    'agent.conf': [
      '# xcpnet-agent.service: this host\'s agent.',
      `# This host's own xcpnet-master.service (a pool master, or a host on its own). Leave it so on`,
      `# every host: after xe pool-join the agent follows the pool's master by itself, over HTTPS with`,
      `# the host's credential and the trust recorded at the join (${FHS.state}/${MEMBER_FILE}),`,
      '# and after xe pool-eject comes back here; no restart, no change to this file.',
      `XCPNET_MASTER=${o.master ?? `unix:${FHS.run}/xapi.sock`}`,
      '# This host\'s uuid (xe host-list on this host before it joins; a host keeps it in a pool).',
      `XCPNET_HOST=${o.host ?? ''}`,
      '# This host\'s credential with its own master (0600), written by `serve --agent-credential-file`.',
      `XCPNET_CREDENTIAL_FILE=${FHS.state}/agent-credential`,
      '# More options of `xcpnet agent` (xcpnet agent --help).',
      'XCPNET_AGENT_OPTS=',
      '',
    ].join('\n'),
  };
}

export type Systemctl = (args: string[]) => Promise<void>;

const systemctl: Systemctl = (args) => new Promise((resolve, reject) => {
  execFile('systemctl', args, { timeout: 60_000 }, (err, _out, stderr) => (err ? reject(new Error(`systemctl ${args.join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve()));
});

export interface InstallOptions extends ServiceOptions {
  /** Install under this directory instead of the running system (default '/'). */
  root?: string;
  master?: string;
  host?: string;
  systemctl?: Systemctl;
  log?: (line: string) => void;
}

const isSystem = (root: string | undefined) => root === undefined || root === '/';

export async function installServices(o: InstallOptions = {}): Promise<string[]> {
  // Unit files and the directories above them are for everyone to read (xcpnet's own umask is
  // 077); the settings keep their explicit 0600/0700.
  const umask = process.umask(0o022);
  try {
    return await install(o);
  } finally {
    process.umask(umask);
  }
}

async function install(o: InstallOptions): Promise<string[]> {
  const root = o.root ?? '/';
  const log = o.log ?? (() => {});
  const units = unitFiles(o);
  const written: string[] = [];
  const unitDir = join(root, UNIT_DIR);
  mkdirSync(unitDir, { recursive: true, mode: 0o755 });
  for (const [name, text] of Object.entries(units)) {
    const p = join(unitDir, name);
    writeFileSync(p, text, { mode: 0o644 });
    written.push(p);
  }
  const conf = join(root, FHS.conf);
  privateDir(conf);
  for (const [name, text] of Object.entries(confFiles(o))) {
    const p = join(conf, name);
    if (existsSync(p)) { log(`kept ${p}`); continue; }
    writeFileSync(p, text, { mode: 0o600, flag: 'wx' });
    written.push(p);
  }
  for (const p of written) log(`wrote ${p}`);
  if (isSystem(o.root)) {
    await (o.systemctl ?? systemctl)(['daemon-reload']);
    log(`systemd reloaded; start with: systemctl enable --now ${UNITS.master}, then set XCPNET_HOST in ${FHS.conf}/agent.conf (xe host-list --minimal) and: systemctl enable --now ${UNITS.agent}`);
  }
  return written;
}

export async function removeServices(o: { root?: string; systemctl?: Systemctl; log?: (line: string) => void } = {}): Promise<string[]> {
  const root = o.root ?? '/';
  const log = o.log ?? (() => {});
  const run = o.systemctl ?? systemctl;
  const names = [UNITS.agent, UNITS.master];
  // Stopping the agent leaves the host's networking as it is (only the process goes).
  if (isSystem(o.root)) await run(['disable', '--now', ...names]).catch((e: Error) => log(`note: ${e.message}`));
  const removed: string[] = [];
  for (const n of names) {
    const p = join(root, UNIT_DIR, n);
    if (existsSync(p)) { rmSync(p); removed.push(p); log(`removed ${p}`); }
  }
  if (isSystem(o.root)) await run(['daemon-reload']);
  log(`kept ${join(root, FHS.conf)} and ${join(root, FHS.state)} (settings, database): remove them by hand if they are no longer wanted`);
  return removed;
}
