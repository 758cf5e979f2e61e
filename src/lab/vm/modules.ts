// Kernel modules of the VM's kernel: which files to load, in which order, from the
// `modules.dep` index depmod wrote next to them. Pure except `readModuleIndex`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ModuleIndex {
  /** Module name (dashes as underscores) → its path relative to the modules directory. */
  paths: Map<string, string>;
  /** Path → paths of every module it needs (modules.dep lists the whole closure). */
  deps: Map<string, string[]>;
  /** Names built into the kernel: nothing to load. */
  builtin: Set<string>;
}

/** `kernel/fs/9p/9p.ko` → `9p`; names compare with '-' and '_' alike, as modprobe does. */
export function moduleName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export function parseModuleIndex(modulesDep: string, modulesBuiltin = ''): ModuleIndex {
  const paths = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split('\n')) {
    const m = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    paths.set(moduleName(m[1]!), m[1]!);
    deps.set(m[1]!, m[2]!.split(/\s+/).filter(Boolean));
  }
  const builtin = new Set(modulesBuiltin.split('\n').filter(Boolean).map(moduleName));
  return { paths, deps, builtin };
}

/**
 * The module files to load for `names`, each after everything it needs, each once. A name
 * built into the kernel needs nothing; an unknown name is an error (a typo, or a kernel
 * without that driver), not a silent skip.
 */
export function loadOrder(index: ModuleIndex, names: string[]): string[] {
  const out: string[] = [];
  const placed = new Set<string>();
  const place = (path: string, chain: string[]): void => {
    if (placed.has(path)) return;
    if (chain.includes(path)) throw new Error(`module dependency cycle: ${[...chain, path].join(' → ')}`);
    // modules.dep names the whole closure; placing each dependency's own dependencies first
    // orders them without trusting the order of the list.
    for (const d of index.deps.get(path) ?? []) place(d, [...chain, path]);
    placed.add(path);
    out.push(path);
  };
  for (const n of names) {
    const name = n.replace(/-/g, '_');
    if (index.builtin.has(name)) continue;
    const path = index.paths.get(name);
    if (!path) throw new Error(`kernel module ${n} is neither a module nor built in`);
    place(path, []);
  }
  return out;
}

export function readModuleIndex(modulesDir: string): ModuleIndex {
  const read = (f: string): string => { try { return readFileSync(join(modulesDir, f), 'utf8'); } catch { return ''; } };
  const dep = read('modules.dep');
  if (!dep) throw new Error(`no modules.dep in ${modulesDir} (run scripts/vm-setup.sh)`);
  return parseModuleIndex(dep, read('modules.builtin'));
}
