// `xe help`, `xe help COMMAND`, `xe help --all`.
import { UsageError } from './args.js';
import type { Command, Env } from './command.js';
import { USAGE_HINT } from './errors.js';
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
  'Credentials (with -s): -pwf FILE (the user on its first line, the password on its second), else -u and -pw,',
  'else the environment variables XE_USER and XE_PASSWORD; the user defaults to root. -pw shows the',
  'password to every user of the machine (ps): prefer -pwf or XE_PASSWORD.',
  '',
  'To get help on a specific command: xe help <command>',
  'To list every command, hidden ones included: xe help --all',
  'Bash completion: eval "$(xe --bash-completion)"',
];

/** Names joined by ", " and wrapped to `width` columns, indented by two spaces. */
export function wrapNames(names: string[], width = 78): string[] {
  const lines: string[] = [];
  let cur = '';
  names.forEach((n, i) => {
    const item = i < names.length - 1 ? `${n},` : n;
    if (cur !== '' && cur.length + 1 + item.length > width - 2) { lines.push(`  ${cur}`); cur = item; } else cur = cur === '' ? item : `${cur} ${item}`;
  });
  if (cur !== '') lines.push(`  ${cur}`);
  return lines;
}

export function commandHelp(cmd: Command): string[] {
  return [
    `command name            : ${cmd.name}`,
    `        reqd params     : ${cmd.reqd.join(', ')}`,
    `        optional params : ${cmd.optn.join(', ')}`,
    `        description     : ${cmd.help}`,
  ];
}

async function runHelp(env: Env): Promise<void> {
  const all = env.params.get('all') === 'true';
  const name = env.words[0];
  if (name !== undefined) {
    const cmd = await findCommand(name);
    if (cmd === undefined) throw new UsageError([`Unknown command: ${name}`, USAGE_HINT]);
    env.out(`${commandHelp(cmd).join('\n')}\n`);
    return;
  }
  const cmds = (await allCommands()).filter((c) => all || !c.hidden);
  const lines = [...USAGE, '', all ? 'All commands:' : 'Commands:', ...wrapNames(cmds.map((c) => c.name))];
  env.out(`${lines.join('\n')}\n`);
}

export const HELP_COMMANDS: Command[] = [
  { name: 'help', reqd: [], optn: ['--all', '<command>'], help: 'Show the command list, or the parameters of one command.', run: runHelp },
];

registerHelp(HELP_COMMANDS);
