// The hub hears that a host's Open vSwitch is down (`unrealised`): calls waiting on those objects
// fail at once with the reason, and the wish (currently_attached) is left alone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../db/store.js';
import { CLASSES, RELATIONS } from '../idl/index.js';
import { RealisationHub } from './realise.js';
import { emptyReport } from '../protocol/host-agent.js';

test('unrealised objects: waiting calls fail at once with the reason, currently_attached stays; a later report clears it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-hub-'));
  const store = new Store({ path: join(dir, 'db.sqlite'), classes: CLASSES, relations: RELATIONS });
  try {
    const [host, net] = store.transact((tx) => [tx.create('host', { name_label: 'h' }), tx.create('network', { name_label: 'n', other_config: {} })]);
    const pif = store.transact((tx) => tx.create('PIF', { host, network: net, device: 'eth0', currently_attached: true }));
    const hub = new RealisationHub(store);
    hub.timeoutMs = 60_000; // far beyond the test: only the report may end the wait
    hub.report(host, store.generation, { ...emptyReport('fake') });

    store.transact((tx) => tx.update('PIF', pif, { other_config: { mtu: '9000' } }));
    const waiting = hub.wait(host, [pif]);
    const why = 'Open vSwitch: ovs-vswitchd is not running';
    hub.report(host, store.generation - 1, { ...emptyReport('fake'), unrealised: { [pif]: why } });
    await assert.rejects(waiting, (e: { code?: string; params?: unknown[] }) => e.code === 'PIF_CONFIGURATION_ERROR' && e.params?.[1] === why);
    // A new call fails at once too, while the host says so.
    await assert.rejects(hub.wait(host, [pif]), /PIF_CONFIGURATION_ERROR/);
    assert.equal(store.get('PIF', pif).currently_attached, true, 'the wish stands');

    // The switch is back: the next report has no unrealised, and the wait is answered.
    hub.report(host, store.generation, { ...emptyReport('fake') });
    await hub.wait(host, [pif]);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
