// Bash completion. The script asks xe itself (`xe --complete LINE`), which knows the commands,
// their parameters, and asks the server for the uuids of the right class.
import type { Rec } from '../idl/meta.js';
import { parseArgv, VALUE_FLAGS } from './args.js';
import type { Caller } from './fields.js';
import { fieldsOf } from './records.js';
import { allCommands, findCommand } from './registry.js';
import { CLI_CLASSES, findCliClass } from './tables.js';

export const BASH_COMPLETION = `# bash completion for xe (xcpnet). Install: eval "$(xe --bash-completion)"
_xe_complete() {
  local IFS=$'\\n'
  COMPREPLY=( $("\${COMP_WORDS[0]}" --complete "\${COMP_LINE:0:COMP_POINT}" 2>/dev/null) )
}
complete -o nospace -F _xe_complete xe
`;

/** Parameters whose values are uuids of one class, by parameter name. */
const UUID_PARAMS: Record<string, string> = {
  'pif-uuid': 'pif', 'network-uuid': 'network', 'vm-uuid': 'vm', 'host-uuid': 'host', 'vif-uuid': 'vif',
};

/**
 * Bash splits words at `=` and `:` (COMP_WORDBREAKS), so a reply replaces only the part of the
 * token after the last of them (or the breaker itself, when the token ends with it).
 */
export function forBash(token: string, candidate: string): string {
  const i = Math.max(token.lastIndexOf('='), token.lastIndexOf(':'));
  if (i < 0) return candidate;
  return i === token.length - 1 ? candidate.slice(i) : candidate.slice(i + 1);
}

/** The class a `uuid=` parameter refers to for a command: its longest class prefix. */
export function classOfCommand(cmd: string): string | undefined {
  return CLI_CLASSES.map((c) => c.prefix).filter((p) => cmd.startsWith(`${p}-`)).sort((a, b) => b.length - a.length)[0];
}

async function uuidsOf(c: Caller, prefix: string): Promise<string[]> {
  const cc = findCliClass(prefix);
  if (cc === undefined) return [];
  const all = await c.call<Record<string, Rec>>(`${cc.cls}.get_all_records`);
  return Object.values(all).map((r) => String(r.uuid));
}

/** Candidates for the last token of `line`; `connect` opens a session when uuids are needed. */
export async function complete(line: string, connect: (argv: ReturnType<typeof parseArgv>) => Promise<Caller>): Promise<string[]> {
  const tokens = line.split(/\s+/);
  const cur = tokens.pop() ?? '';
  const before = tokens.slice(1).filter((t) => t !== '');
  const prev = before[before.length - 1];
  if (prev !== undefined && Object.hasOwn(VALUE_FLAGS, prev)) return [];
  const argv = parseArgv(before);
  const out = (cands: string[]): string[] => cands.filter((x) => x.startsWith(cur)).map((x) => forBash(cur, x));

  if (argv.command === undefined) {
    if (cur.startsWith('-')) return out(['-s', '-p', '-u', '-pw', '-pwf', '--nossl', '--ca-file', '--fingerprint']).map((x) => `${x} `);
    return out((await allCommands()).filter((c) => !c.hidden).map((c) => `${c.name} `));
  }
  const cmd = await findCommand(argv.command);
  if (cmd === undefined) return [];
  if (cmd.name === 'help') return out((await allCommands()).map((c) => `${c.name} `));
  if (cur.startsWith('-')) {
    // Switches: the --name forms of the command's boolean parameters, --multiple for VM selectors.
    const switches = cmd.optn.flatMap((o) => (o === '<vm-selectors>' ? ['--multiple'] : o === 'force' ? ['--force'] : o.startsWith('--') ? [o] : []));
    return out([...switches, '--minimal'].map((x) => `${x} `));
  }
  const eq = cur.indexOf('=');
  if (eq < 0) {
    const optn = cmd.optn.flatMap((n) => (n === '<vm-selectors>' ? ['uuid', 'vm', 'name-label'] : [n]));
    const names = [...cmd.reqd, ...optn].filter((n) => !n.startsWith('-') && !n.startsWith('<'));
    return out(names.filter((n) => !argv.params.has(n)).map((n) => (n.endsWith(':') ? n : `${n}=`)));
  }
  const name = cur.slice(0, eq);
  const own = classOfCommand(cmd.name);
  const values = async (): Promise<string[]> => {
    if (name === 'param-name' && own !== undefined) {
      const cc = findCliClass(own);
      return cc ? (await fieldsOf(cc)).map((f) => f.name) : [];
    }
    if (name === 'class' && cmd.name === 'event-wait') return CLI_CLASSES.map((c) => c.prefix);
    const prefix = name === 'uuid' ? own : UUID_PARAMS[name];
    if (prefix === undefined) return [];
    return uuidsOf(await connect(argv), prefix);
  };
  return out((await values()).map((v) => `${name}=${v} `));
}
