// All commands: the dedicated ones (static data) and the generated ones (built from the
// class tables and the IDL when first needed).
import type { Command } from './command.js';
import { ADMIN_COMMANDS } from './commands/admin.js';
import { CERT_COMMANDS } from './commands/cert.js';
import { NET_COMMANDS } from './commands/net.js';
import { VM_COMMANDS } from './commands/vm.js';
import { POOL_DB_COMMANDS } from './commands/pool-db.js';
import { POOL_COMMANDS } from './commands/pool.js';
import { allGenerated, findGenerated } from './generated.js';

let helpCommands: Command[] = [];

/** `help` lives in help.ts, which needs this registry: it registers itself here. */
export function registerHelp(cmds: Command[]): void {
  helpCommands = cmds;
}

export function dedicated(): Command[] {
  return [...helpCommands, ...NET_COMMANDS, ...VM_COMMANDS, ...POOL_COMMANDS, ...POOL_DB_COMMANDS, ...CERT_COMMANDS, ...ADMIN_COMMANDS];
}

export async function findCommand(name: string): Promise<Command | undefined> {
  return dedicated().find((c) => c.name === name) ?? await findGenerated(name);
}

/** Every command, sorted by name. */
export async function allCommands(): Promise<Command[]> {
  const all = [...dedicated(), ...await allGenerated()];
  return all.sort((a, b) => a.name.localeCompare(b.name));
}
