// Nothing acknowledged is ever lost: a master killed with SIGKILL in the middle of a stream of
// concurrent writes comes back with every acknowledged object, and every inverse relation
// (network.VIFs, VM.VIFs) consistent with the references that define it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../../src/client/index.js';

const XCPNET = join(process.cwd(), 'dist/src/bin/xcpnet.js');
const dir = mkdtempSync(join(tmpdir(), 'xcpnet-crash-'));
const started: ChildProcess[] = [];

function startServe(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [XCPNET, 'serve', '--state-dir', dir, '--listen', '127.0.0.1:0', '--http'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XCPNET_ROOT_PASSWORD: 'pw' } });
  started.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /serving XenAPI on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1]! }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${out}`)); });
  });
}

after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL during concurrent writes loses no acknowledged object and no inverse relation', async () => {
  const first = await startServe();
  const c = await XapiClient.connect({ target: first.url, user: 'root', password: 'pw' });
  const vm = await c.call<string>('VM.create', { name_label: 'crash-vm' });
  const acked = { networks: [] as string[], vifs: [] as Array<{ vif: string; network: string }> };
  let device = 0;
  // Eight writers; each stops at its first failure (the server is gone) or after 400 writes.
  const writer = async (w: number) => {
    for (let i = 0; i < 400; i++) {
      try {
        const net = await c.call<string>('network.create', { name_label: `w${w}-${i}`, other_config: {} });
        acked.networks.push(net);
        const vif = await c.call<string>('VIF.create', { device: String(device++), network: net, VM: vm, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
        acked.vifs.push({ vif, network: net });
      } catch { return; }
    }
  };
  const writers = Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(writer));
  await new Promise((r) => setTimeout(r, 400));
  first.child.kill('SIGKILL');
  await writers;
  assert.ok(acked.networks.length > 0, 'some writes were acknowledged before the kill');

  const second = await startServe();
  const c2 = await XapiClient.connect({ target: second.url, user: 'root', password: 'pw' });
  const nets = await c2.call<Record<string, { VIFs: string[] }>>('network.get_all_records');
  const vifs = await c2.call<Record<string, { network: string; VM: string }>>('VIF.get_all_records');
  const vms = await c2.call<Record<string, { VIFs: string[] }>>('VM.get_all_records');
  for (const n of acked.networks) assert.ok(nets[n], `acknowledged network ${n} is present`);
  for (const { vif, network } of acked.vifs) {
    assert.equal(vifs[vif]?.network, network, `acknowledged VIF ${vif} is present on its network`);
    assert.ok(nets[network]!.VIFs.includes(vif));
    assert.ok(vms[vm]!.VIFs.includes(vif));
  }
  // Every inverse set agrees with the references, in both directions.
  for (const [ref, v] of Object.entries(vifs)) {
    assert.ok(nets[v.network]?.VIFs.includes(ref), `network.VIFs holds ${ref}`);
    assert.ok(vms[v.VM]?.VIFs.includes(ref), `VM.VIFs holds ${ref}`);
  }
  for (const [ref, n] of Object.entries(nets)) for (const v of n.VIFs) assert.equal(vifs[v]?.network, ref);
  await c2.close();
  second.child.kill('SIGTERM');
});
