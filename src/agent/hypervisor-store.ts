// The hypervisor devices the agent has bound, kept on local disk: the devices outlive an agent
// restart, and a tap's binding cannot be found again from the records (a tap's name is the
// hypervisor's choice). One JSON file, 0600 in the agent's 0700 directory, replaced atomically.
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir, writePrivateFile } from '../common/private-files.js';
import { isGuestDeviceName } from '../protocol/host-agent.js';
import type { Binding, HypervisorState, HypervisorStore } from './hypervisor.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_BYTES = 1024 * 1024;

/** Pure: a binding read back from disk is checked as any input is. */
export function isBinding(v: unknown): v is Binding {
  if (!v || typeof v !== 'object') return false;
  const b = v as Record<string, unknown>;
  return typeof b.device === 'string' && isGuestDeviceName(b.device) && typeof b.vifUuid === 'string' && UUID.test(b.vifUuid)
    && typeof b.vmUuid === 'string' && UUID.test(b.vmUuid) && typeof b.domid === 'number' && Number.isInteger(b.domid) && b.domid >= -1
    && typeof b.adopted === 'boolean';
}

export class FileHypervisorStore implements HypervisorStore {
  readonly file: string;
  constructor(readonly dir: string, private readonly log: (m: string) => void = () => {}) { this.file = join(dir, 'hypervisor-devices.json'); }

  load(): HypervisorState | undefined {
    let text: string;
    try { text = readFileSync(this.file, 'utf8'); } catch { return undefined; }
    try {
      if (text.length > MAX_BYTES) throw new Error('too large');
      const v = JSON.parse(text) as { bindings?: unknown; stopped?: unknown };
      const bindings = Array.isArray(v.bindings) ? v.bindings.filter(isBinding) : [];
      const stopped = Array.isArray(v.stopped) ? v.stopped.filter((s): s is string => typeof s === 'string' && UUID.test(s)) : [];
      return { bindings, stopped };
    } catch (e) {
      this.log(`hypervisor device bindings ${this.file} ignored: ${(e as Error).message}`);
      return undefined;
    }
  }

  save(s: HypervisorState): void {
    privateDir(this.dir);
    const tmp = `${this.file}.${process.pid}.tmp`;
    writePrivateFile(tmp, JSON.stringify(s));
    renameSync(tmp, this.file);
  }
}
