// `xe help`, `xe help COMMAND`, `xe help --all`.
import type { Command, Env } from './command.js';
import { allCommands, findCommand, registerHelp } from './registry.js';

export const USAGE = [
  'Usage: xe [-s HOST] [-p PORT] [--nossl] [--ca-file FILE | --fingerprint SHA256] [-u USER] [-pw PASSWORD | -pwf FILE]',
  '          COMMAND [name=value ...] [--minimal] [--force]',
  '',
  'Without -s, xe talks to the local xcpnet over the unix socket $XCPNET_STATE_DIR/xapi.sock (./var/xapi.sock',
  'when XCPNET_STATE_DIR is unset and it exists, else the installed service\'s /run/xcpnet/xapi.sock), which',
  'trusts its root-only caller without a password.',
  'With -s it uses HTTPS on port -p (default 443), or plain HTTP with --nossl (default port 80). The',
  "server's certificate must be signed by a CA of --ca-file FILE ($XE_CA_FILE; default: the system's CAs)",
  'or have the SHA-256 fingerprint --fingerprint ($XE_FINGERPRINT; see xcpnet cert-fingerprint on the server).',
  'Credentials (with -s): -pwf FILE (the user on its first line, the password on its second), else -u and -pw',
  '(or username=USER password=PASSWORD), else the environment variables XE_USER and XE_PASSWORD; the user',
  'defaults to root. -pw shows the password to every user of the machine (ps): prefer -pwf or XE_PASSWORD.',
  'server=, port=, passwordfile= and nossl=true are the same as -s, -p, -pwf and --nossl.',
  'XE_EXTRA_ARGS: more arguments, separated by commas (\\, for a comma in one), read before the command line.',
  '',
  'To get help on a specific command: xe help <command>',
  'To list every command, hidden ones included: xe help --all',
  'Bash completion: eval "$(xe --bash-completion)"',
];

/**
 * The real xe's command list layout: names joined by ", " on lines indented by four spaces, a
 * line broken before a name that would take it past 74 characters.
 */
export function wrapNames(names: string[]): string[] {
  const indent = '    ';
  const lines: string[] = [];
  let cur = indent + (names[0] ?? '');
  for (const n of names.slice(1)) {
    if (cur.length + n.length > 74) { lines.push(cur); cur = indent + n; } else cur = `${cur}, ${n}`;
  }
  lines.push(cur);
  return lines;
}

/** A command's help: a record of four rows, then the two blank lines that end every record. */
export function commandHelp(cmd: Command): string[] {
  return [
    `command name            : ${cmd.name}`,
    `        reqd params     : ${cmd.reqd.join(', ')}`,
    `        optional params : ${cmd.optn.join(', ')}`,
    `        description     : ${cmd.help}`,
    '',
    '',
  ];
}

/** As the real xe's --minimal lists: commas and backslashes in a value escaped. */
const minimalList = (xs: string[]): string => xs.map((x) => x.replace(/[\\,]/g, (c) => `\\${c}`)).join(',');

/**
 * `xe help [--all] [--minimal] [COMMAND…]`, laid out as the real xe: each named command's record
 * (a name it does not know is said so on stdout, and is no failure); else the usage, then the
 * common commands, or with --all every command: those of hosts, of VMs, then the others.
 * --minimal gives only the names, comma-separated (what bash completion reads).
 */
async function runHelp(env: Env): Promise<void> {
  const all = env.params.get('all') === 'true';
  const minimal = env.params.get('minimal') === 'true';
  if (env.words.length > 0) {
    const out: string[] = [];
    for (const name of env.words) {
      const cmd = await findCommand(name);
      if (minimal) out.push(cmd === undefined ? `Unknown command '${name}'` : cmd.name);
      else env.out(cmd === undefined ? `Unknown command '${name}'\n` : `${commandHelp(cmd).join('\n')}\n`);
    }
    if (minimal) env.out(`${minimalList(out)}\n`);
    return;
  }
  const names = (await allCommands()).filter((c) => all || !c.hidden).map((c) => c.name);
  if (minimal) { env.out(`${minimalList(names)}\n`); return; }
  const title = all ? 'Full command list' : 'Common command list';
  const lines = [...USAGE, '', title, '-'.repeat(title.length), ''];
  if (all) {
    const hosts = names.filter((n) => n.startsWith('host-'));
    const vms = names.filter((n) => n.startsWith('vm-'));
    const others = names.filter((n) => !n.startsWith('host-') && !n.startsWith('vm-'));
    lines.push(...wrapNames(hosts), ...wrapNames(['']), ...wrapNames(vms), ...wrapNames(['']), ...wrapNames(others));
  } else lines.push(...wrapNames(names));
  env.out(`${lines.join('\n')}\n`);
}

export const HELP_COMMANDS: Command[] = [
  { name: 'help', reqd: [], optn: ['--all', '--minimal', '<command>'], help: 'Show the command list, or the parameters of one command.', run: runHelp },
];

registerHelp(HELP_COMMANDS);
