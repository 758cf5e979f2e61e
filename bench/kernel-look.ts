// bench/kernel-look: what the agent's look at the kernel costs at the start of a pass, by the
// number of links in the host's namespace: the long-lived `ip -json -details -batch` helper asked
// for `addr show` and the default route, and its answer parsed (src/backends/linux/kernel.ts), as
// the Open vSwitch driver does. Root; a namespace of its own holding N veth pairs (both ends in
// it), removed at the end. No baseline: it says how a pass's fixed cost grows with the guests.
// Usage: npx tsc -p . && node dist/bench/kernel-look.js [--pairs 10,200,1000] [--looks 20]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpBatch } from '../src/backends/linux/ip-batch.js';
import { parseKernelBatch } from '../src/backends/linux/kernel.js';
import { median } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const PAIRS = opt('--pairs', '10,200,1000').split(',').map(Number);
const LOOKS = Number(opt('--looks', '20'));

const ns = `xcpb-${process.pid}-klook`;
const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-klook-'));
execFileSync('ip', ['netns', 'add', ns]);
try {
  let made = 0;
  for (const pairs of PAIRS) {
    const lines: string[] = [];
    for (; made < pairs; made++) lines.push(`link add k${made}a type veth peer name k${made}b`);
    if (lines.length) {
      writeFileSync(join(dir, 'links'), `${lines.join('\n')}\n`);
      execFileSync('ip', ['-n', ns, '-batch', join(dir, 'links')]);
    }
    const ip = new IpBatch(ns);
    try {
      const look = async () => parseKernelBatch((await ip.run(['addr show', 'route show default'])).join('\n'));
      const links = (await look()).links.size; // starts the helper
      const ms: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < LOOKS; i++) {
        const t0 = performance.now();
        await look();
        ms.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage(cpu0);
      console.log(`${links} links: one look ${median(ms).toFixed(1)} ms (${Math.min(...ms).toFixed(1)}–${Math.max(...ms).toFixed(1)}), the agent's CPU ${((cpu.user + cpu.system) / 1000 / LOOKS).toFixed(1)} ms a look`);
    } finally { ip.close(); }
  }
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
