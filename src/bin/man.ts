// Man pages for xcpnet(1) and xe(1), made from the same data as their --help and `xe help`:
// src/bin/help.ts for xcpnet, the xe command registry for xe. docs/man/*.1 are these pages,
// checked in; test/cli/man.test.ts fails when they are stale. Regenerate: node dist/src/bin/man.js docs/man
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_COMMANDS, XCPNET_COMMANDS, version, type CommandHelp } from './help.js';
import { USAGE } from '../cli/help.js';
import { allCommands } from '../cli/registry.js';

/** Text as roff reads it: backslashes escaped, no line starting with a control character, minus signs as such. */
function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').split('\n').map((l) => (/^[.']/.test(l) ? `\\&${l}` : l)).join('\n');
}

function header(name: string, summary: string): string[] {
  return [`.TH ${name.toUpperCase()} 1 "" "xcpnet ${version()}" "User Commands"`, '.SH NAME', `${name} \\- ${roff(summary)}`];
}

function commandSection(c: CommandHelp): string[] {
  const out = ['.TP', `.B xcpnet ${roff(c.name)}${c.args ? ` ${roff(c.args)}` : ''}`, roff(c.summary)];
  for (const d of c.details ?? []) out.push('.IP', roff(d));
  for (const [flag, text] of c.options ?? []) out.push('.RS', '.TP', `.B ${roff(flag)}`, roff(text), '.RE');
  for (const e of c.examples ?? []) out.push('.IP', `.B ${roff(e)}`);
  return out;
}

export function xcpnetManPage(): string {
  return [
    ...header('xcpnet', 'the XCP\u2011ng / XenServer network toolstack: pool master, host agent, lab and views'),
    '.SH SYNOPSIS', '.B xcpnet', '.I command', '[options]', '.br', '.B xcpnet', '.I command', '\\-\\-help', '.br', '.B xcpnet \\-\\-version',
    '.SH DESCRIPTION',
    roff('xcpnet serves the XenAPI for a pool of Linux hosts, makes networks, VLANs, bonds and tunnels real on every host through its agent, and builds whole lab pools in network namespaces. Every command answers --help with what this page says of it.'),
    '.SH COMMANDS', ...XCPNET_COMMANDS.flatMap(commandSection),
    '.SH LAB COMMANDS', ...LAB_COMMANDS.flatMap(commandSection),
    '.SH SEE ALSO', '.BR xe (1)', '',
  ].join('\n');
}

/** xe's usage text after the synopsis: its first paragraph flowed, the one-line hints kept as lines. */
function descriptionOf(lines: string[]): string[] {
  const cut = lines.indexOf('');
  const flowed = (cut < 0 ? lines : lines.slice(0, cut)).join(' ');
  const hints = cut < 0 ? [] : lines.slice(cut + 1);
  return [roff(flowed), ...(hints.length ? ['.PP', hints.map(roff).join('\n.br\n')] : [])];
}

export async function xeManPage(): Promise<string> {
  const cmds = (await allCommands()).filter((c) => !c.hidden);
  return [
    ...header('xe', 'the XenAPI command line of xcpnet, compatible with XCP\u2011ng\'s xe'),
    '.SH SYNOPSIS', '.nf', roff(USAGE.slice(0, 2).join('\n')), '.fi',
    '.SH DESCRIPTION', ...descriptionOf(USAGE.slice(3)),
    '.SH COMMANDS',
    ...cmds.flatMap((c) => ['.TP', `.B ${roff(c.name)}`, roff(c.help),
      ...(c.reqd.length ? ['.br', `Required: ${roff(c.reqd.join(', '))}`] : []),
      ...(c.optn.length ? ['.br', `Optional: ${roff(c.optn.join(', '))}`] : [])]),
    '.SH SEE ALSO', '.BR xcpnet (1)', '',
  ].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? 'docs/man';
  writeFileSync(join(dir, 'xcpnet.1'), xcpnetManPage());
  writeFileSync(join(dir, 'xe.1'), await xeManPage());
  console.log(`wrote ${join(dir, 'xcpnet.1')} and ${join(dir, 'xe.1')}`);
}
