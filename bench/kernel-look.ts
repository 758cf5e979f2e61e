// bench/kernel-look: what the agent's look at the kernel costs at the start of a pass, by the
// number of links in the host's namespace, two ways:
//  - full: the long-lived `ip -json -details -batch` helper asked for `addr show` and the default
//    route, and its answer parsed (src/backends/linux/kernel.ts): a dump of every link, what each
//    pass did before the kernel watch;
//  - incremental: the kernel watch (src/backends/linux/kernel-watch.ts) after one link changed
//    (its MTU set by plain `ip`, outside the agent): the look starts once the monitor's event has
//    arrived, and reads that link and the route only. Also a look with nothing changed.
// Root; a namespace of its own holding N veth pairs (both ends in it), removed at the end. No
// baseline: it says how a pass's fixed cost grows with the guests.
// Usage: npx tsc -p . && node dist/bench/kernel-look.js [--pairs 10,200,1000] [--looks 20]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpBatch } from '../src/backends/linux/ip-batch.js';
import { parseKernelBatch, parseKernelLink } from '../src/backends/linux/kernel.js';
import { KernelWatch } from '../src/backends/linux/kernel-watch.js';
import { median } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const PAIRS = opt('--pairs', '10,200,1000').split(',').map(Number);
const LOOKS = Number(opt('--looks', '20'));

const ns = `xcpb-${process.pid}-klook`;
const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-klook-'));

/** Times `look` LOOKS times (after `prepare`, untimed, each time): median (min–max) and the agent's CPU per look. */
async function measure(prepare: (i: number) => Promise<void>, look: () => Promise<unknown>): Promise<string> {
  const ms: number[] = [];
  let cpuUs = 0;
  for (let i = 0; i < LOOKS; i++) {
    await prepare(i);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await look();
    ms.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    cpuUs += cpu.user + cpu.system;
  }
  return `${median(ms).toFixed(2)} ms (${Math.min(...ms).toFixed(2)}–${Math.max(...ms).toFixed(2)}), CPU ${(cpuUs / 1000 / LOOKS).toFixed(2)} ms`;
}

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
    const watch = new KernelWatch(ns, parseKernelLink);
    try {
      const full = async () => parseKernelBatch((await ip.run(['addr show', 'route show default'])).join('\n'));
      const links = (await full()).links.size; // starts the helper
      const fullLine = await measure(async () => {}, full);

      await watch.look(); // starts the monitor; its full dump
      let events = 0;
      let wake: (() => void) | undefined;
      watch.onEvent(() => { events++; wake?.(); });
      /** Changes one link outside the agent and waits (untimed) for the monitor's word of it. */
      const changeOne = async (i: number) => {
        const seen = events;
        execFileSync('ip', ['-n', ns, 'link', 'set', 'k0a', 'mtu', String(1400 + (i % 2) * 100)]);
        // Bounded: the monitor's pipe alone does not keep Node running, the timer does.
        while (events === seen) {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('no monitor event within 10 s')), 10_000);
            wake = () => { clearTimeout(t); resolve(); };
          });
        }
        wake = undefined;
      };
      const dumps = watch.fullDumps;
      const oneLine = await measure(changeOne, () => watch.look());
      const noneLine = await measure(async () => {}, () => watch.look());
      if (watch.fullDumps !== dumps) throw new Error(`the incremental looks dumped everything ${watch.fullDumps - dumps} time(s)`);
      console.log(`${links} links: full look ${fullLine}; one link changed ${oneLine}; nothing changed ${noneLine}`);
    } finally { ip.close(); watch.close(); }
  }
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
