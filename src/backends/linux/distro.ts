// Which NICs the distribution's own network configuration manages: ifupdown
// (/etc/network/interfaces and the files it sources), NetworkManager, systemd-networkd. The
// agent never takes such a NIC over: both would configure it, and the next `ifup`, DHCP renewal
// or reload by the other would undo the move onto the bridge (or cut the host off). Instead the
// PIF fails with a message naming the NIC, the file or command that claims it, and how to hand
// it over; the NIC keeps its address meanwhile. Checked only where the agent manages the
// machine's own network (`--manage-nics`), never in a lab namespace. The parsers are pure.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface DistroClaim {
  nic: string;
  by: 'ifupdown' | 'NetworkManager' | 'systemd-networkd';
  /** The file (and line) or command that shows the claim. */
  where: string;
  /** What the operator does to hand the NIC over. */
  handover: string;
}

/** The message a refused PIF gets. */
export function claimMessage(c: DistroClaim): string {
  return `${c.nic} is configured by ${c.by} (${c.where}); xcpnet does not take it over while both would configure it. ` +
    `Hand it over: ${c.handover}; its address stays up meanwhile, then repeat the call`;
}

/** A glob of `source`: only `*` and `?` in the last component, as the files ifupdown reads. */
function expandSource(pattern: string, root: string): string[] {
  const abs = join(root, pattern);
  const dir = dirname(abs);
  const base = abs.slice(dir.length + 1);
  if (!/[*?]/.test(base)) return existsSync(abs) ? [abs] : [];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  try { return readdirSync(dir).filter((n) => re.test(n)).sort().map((n) => join(dir, n)); } catch { return []; }
}

export interface IfupdownStanza { iface: string; method: string; hooks: boolean; file: string; line: number }

/**
 * Pure: the `iface` stanzas of one interfaces(5) file (its `source`/`source-directory` lines
 * are returned for the caller to follow). A stanza ends at the next top-level keyword.
 */
export function parseInterfaces(text: string, file: string): { stanzas: IfupdownStanza[]; sources: string[]; sourceDirs: string[] } {
  const stanzas: IfupdownStanza[] = [];
  const sources: string[] = [];
  const sourceDirs: string[] = [];
  let cur: IfupdownStanza | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const l = raw.replace(/#.*/, '').trim();
    if (l === '') return;
    const w = l.split(/\s+/);
    switch (w[0]) {
      case 'iface':
        cur = { iface: w[1] ?? '', method: w[3] ?? '', hooks: false, file, line: i + 1 };
        stanzas.push(cur);
        return;
      case 'source': if (w[1]) sources.push(w[1]); cur = undefined; return;
      case 'source-directory': if (w[1]) sourceDirs.push(w[1]); cur = undefined; return;
      case 'auto': case 'mapping': case 'rename': cur = undefined; return;
      default:
        if (/^allow-/.test(w[0]!)) { cur = undefined; return; }
        if (cur && /^(pre-up|up|post-up|address|gateway)$/.test(w[0]!)) cur.hooks = true;
    }
  });
  return { stanzas, sources, sourceDirs };
}

/** The ifupdown stanzas that configure `nic` (a method other than manual/loopback, or commands). */
export function ifupdownClaims(root: string, nics: string[]): DistroClaim[] {
  const seen = new Set<string>();
  const stanzas: IfupdownStanza[] = [];
  const visit = (file: string, depth: number) => {
    if (depth > 8 || seen.has(file)) return;
    seen.add(file);
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { return; }
    const shown = file.slice(root === '/' ? 0 : resolve(root).length) || file;
    const p = parseInterfaces(text, shown);
    stanzas.push(...p.stanzas);
    for (const s of p.sources) for (const f of expandSource(s.startsWith('/') ? s : join('/etc/network', s), root)) visit(f, depth + 1);
    for (const d of p.sourceDirs) {
      const dir = join(root, d.startsWith('/') ? d : join('/etc/network', d));
      try {
        // run-parts names only: letters, digits, _ and -.
        for (const n of readdirSync(dir).filter((x) => /^[A-Za-z0-9_-]+$/.test(x)).sort()) {
          const f = join(dir, n);
          if (statSync(f).isFile()) visit(f, depth + 1);
        }
      } catch { /* no such directory */ }
    }
  };
  visit(join(root, 'etc/network/interfaces'), 0);
  const out: DistroClaim[] = [];
  for (const nic of nics) {
    const s = stanzas.find((x) => x.iface === nic && (x.hooks || !['manual', 'loopback', ''].includes(x.method)));
    if (!s) continue;
    out.push({
      nic, by: 'ifupdown', where: `${s.file}:${s.line}: iface ${nic} … ${s.method}`,
      handover: `delete (or comment out) the "iface ${nic}" stanza and any "auto ${nic}" / "allow-hotplug ${nic}" line in ${s.file}; do not run ifdown ${nic}, which would remove the address`,
    });
  }
  return out;
}

/** Pure: `KEY=value` lines of a systemd-networkd link state file. */
export function parseNetworkdLink(text: string): { adminState?: string; networkFile?: string } {
  const kv = Object.fromEntries(text.split('\n').map((l) => /^([A-Z_]+)=(.*)$/.exec(l.trim())).filter((m) => m).map((m) => [m![1], m![2]]));
  return { adminState: kv.ADMIN_STATE, networkFile: kv.NETWORK_FILE || undefined };
}

/** NICs systemd-networkd configures (its runtime state for the link's index). */
export function networkdClaims(root: string, nics: string[], ifindex: (nic: string) => number | undefined): DistroClaim[] {
  const out: DistroClaim[] = [];
  for (const nic of nics) {
    const idx = ifindex(nic);
    if (idx === undefined) continue;
    let text: string;
    try { text = readFileSync(join(root, 'run/systemd/netif/links', String(idx)), 'utf8'); } catch { continue; }
    const st = parseNetworkdLink(text);
    if (!st.networkFile || st.adminState === 'unmanaged' || st.adminState === 'linger') continue;
    out.push({
      nic, by: 'systemd-networkd', where: `${st.networkFile} (state ${st.adminState ?? 'unknown'})`,
      handover: `add /etc/systemd/network/00-xcpnet-${nic}.network with "[Match]" "Name=${nic}" "[Link]" "Unmanaged=yes", then run networkctl reload`,
    });
  }
  return out;
}

/** Pure: `nmcli -t -f DEVICE,STATE device status` → device → state. */
export function parseNmcliDevices(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    // Terse mode escapes ':' inside a field as '\:'.
    const [dev, state] = line.split(/(?<!\\):/);
    if (dev && state) m.set(dev.replace(/\\:/g, ':'), state.trim());
  }
  return m;
}

/** NICs NetworkManager manages, when it runs (its run directory exists). */
export async function networkManagerClaims(root: string, nics: string[]): Promise<DistroClaim[]> {
  if (!existsSync(join(root, 'run/NetworkManager')) || root !== '/') return [];
  let out: string;
  try { out = (await exec('nmcli', ['-t', '-f', 'DEVICE,STATE', 'device', 'status'], { timeout: 5000 })).stdout; } catch { return []; }
  const states = parseNmcliDevices(out);
  return nics.filter((n) => { const s = states.get(n); return s !== undefined && !/^unmanaged|^unavailable/.test(s); }).map((nic) => ({
    nic, by: 'NetworkManager' as const, where: `nmcli device status: ${states.get(nic)}`,
    handover: `run nmcli device set ${nic} managed no, and add "[keyfile]" "unmanaged-devices=interface-name:${nic}" to /etc/NetworkManager/conf.d/xcpnet.conf so that it stays so`,
  }));
}

/** Every claim on `nics` by the distribution's network configuration under `root`. */
export async function distroClaims(nics: string[], root = '/'): Promise<Map<string, DistroClaim>> {
  const ifindex = (nic: string): number | undefined => {
    try { const n = Number(readFileSync(join(root, 'sys/class/net', nic, 'ifindex'), 'utf8').trim()); return Number.isInteger(n) ? n : undefined; } catch { return undefined; }
  };
  const all = [...ifupdownClaims(root, nics), ...networkdClaims(root, nics, ifindex), ...await networkManagerClaims(root, nics)];
  const m = new Map<string, DistroClaim>();
  for (const c of all) if (!m.has(c.nic)) m.set(c.nic, c);
  return m;
}
