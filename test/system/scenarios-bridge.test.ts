// The scenario suite on the Linux-bridge backend, a namespace per host. Needs root. What the
// kernel lacks (8021q, bonding, gretap) is found by trying it in a scratch namespace, and the
// scenarios that need it are skipped here, saying so; the VM tier runs them on a full kernel.
import { BridgeDriver } from '../../src/backends/bridge/driver.js';
import { Ip, netns } from '../../src/backends/linux/ip.js';
import type { Feature } from '../scenarios/scenarios.js';
import { HOST_UUIDS } from '../scenarios/scenarios.js';
import { scenarioSuite } from '../scenarios/suite.js';
import { realTarget } from './support/real-hosts.js';

/** Which link types this kernel refuses: feature → why. */
async function kernelLacks(): Promise<Partial<Record<Feature, string>>> {
  const ns = `xcpt-probe-${process.pid}`;
  const out: Partial<Record<Feature, string>> = {};
  await netns.add(ns);
  try {
    const ip = new Ip(ns);
    await ip.run('link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1');
    const tries: [Feature, string[]][] = [
      ['vlan', ['link', 'add', 'link', 'probe0', 'name', 'probe0.5', 'type', 'vlan', 'id', '5']],
      ['bond', ['link', 'add', 'name', 'pbond', 'type', 'bond']],
      ['gre', ['link', 'add', 'name', 'pgre', 'type', 'gretap', 'remote', '192.0.2.1', 'key', '5']],
      ['vxlan', ['link', 'add', 'name', 'pvx', 'type', 'vxlan', 'id', '5', 'remote', '192.0.2.1', 'dstport', '4789']],
    ];
    for (const [f, argv] of tries) {
      try { await ip.run(...argv); } catch (e) { out[f] = `this kernel has no ${f} links (${(e as Error).message.split(': ').at(-1)}): runs in the VM tier`; }
    }
  } finally { await netns.del(ns); }
  return out;
}

scenarioSuite(realTarget({
  name: 'bridge',
  tag: 'sb',
  lacks: kernelLacks,
  async driver(ns, i) {
    return { driver: await BridgeDriver.open({ netns: ns, host: HOST_UUIDS[i]! }) };
  },
}));
