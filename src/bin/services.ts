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

/** Pure: the two unit files. */
export function unitFiles(o: ServiceOptions = {}): Record<string, string> {
  const node = plainPath(o.node ?? process.execPath, 'node');
  const entry = plainPath(o.entry ?? fileURLToPath(new URL('./xcpnet.js', import.meta.url)), 'xcpnet');
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
      // The master's own host is realised by xcpnet-agent.service, like every other host.
      `ExecStart=${node} ${entry} serve --no-agent $XCPNET_SERVE_OPTS`,
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
      `ExecStart=${node} ${entry} agent --master \${XCPNET_MASTER} --host \${XCPNET_HOST} --credential-file \${XCPNET_CREDENTIAL_FILE} --manage-nics $XCPNET_AGENT_OPTS`,
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
      '# xcpnet-master.service: extra options of `xcpnet serve`, e.g. where the API listens.',
      '# The root password is generated at the first start into /var/lib/xcpnet/root-password (0600).',
      `XCPNET_SERVE_OPTS=--listen 127.0.0.1:8080 --agent-credential-file ${FHS.state}/agent-credential`,
      '',
    ].join('\n'),
    'agent.conf': [
      '# xcpnet-agent.service: this host\'s agent.',
      '# The pool master: unix:/run/xcpnet/xapi.sock on the master itself, else http://MASTER:8080.',
      `XCPNET_MASTER=${o.master ?? `unix:${FHS.run}/xapi.sock`}`,
      '# This host\'s uuid in the pool (xe host-list on the master).',
      `XCPNET_HOST=${o.host ?? ''}`,
      '# This host\'s credential (0600), written by the master\'s `serve --agent-credential-file`.',
      `XCPNET_CREDENTIAL_FILE=${FHS.state}/agent-credential`,
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
    log(`systemd reloaded; start with: systemctl enable --now ${UNITS.master} (on the master), then set ${FHS.conf}/agent.conf and: systemctl enable --now ${UNITS.agent}`);
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
