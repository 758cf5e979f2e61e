// The realisation hub's deadlines and the tunnel controller's retry run on an injected clock:
// moved by hand here, so nothing waits on the wall clock and "not before" is exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ApiError } from '../common/api-error.js';
import { ManualClock } from '../common/clock.js';
import { TUNNEL_KEY } from '../idl/checks.js';
import { emptyReport, HOST_LIVE_TIMEOUT_MS } from '../protocol/host-agent.js';
import { bootPool } from './boot.js';
import { startTunnelController } from './impl/controller.js';
import { createTunnelRecords } from './impl/tunnel.js';
import { XapiServer } from './server.js';

function setup() {
  const clock = new ManualClock();
  const server = new XapiServer({ dbPath: ':memory:', timers: clock });
  const host = bootPool(server);
  server.hub.timeoutMs = 1000;
  return { clock, server, host };
}

/** Where a promise stands after pending callbacks have run: 'pending', 'ok' or the error code. */
async function state(p: { outcome: string }): Promise<string> {
  await tick();
  return p.outcome;
}
function track(p: Promise<void>): { outcome: string } {
  const t = { outcome: 'pending' };
  p.then(() => { t.outcome = 'ok'; }, (e: unknown) => { t.outcome = ApiError.is(e) ? e.code : String(e); });
  return t;
}

test('hub: a wait for a host no agent reports for gives up with HOST_OFFLINE at its deadline, not before', async () => {
  const { clock, server, host } = setup();
  const w = track(server.hub.wait(host, [], 0));
  clock.advance(999);
  assert.equal(await state(w), 'pending');
  clock.advance(1);
  assert.equal(await state(w), 'HOST_OFFLINE');
  server.close();
});

test('hub: with an agent, a generation it has not realised times out as DEVICE_ATTACH_TIMEOUT; a report in time resolves', async () => {
  const { clock, server, host } = setup();
  server.hub.report(host, 0, emptyReport('fake'));
  assert.equal(server.hub.hasAgent(host), true);
  const late = track(server.hub.wait(host, [], 5));
  clock.advance(1000);
  assert.equal(await state(late), 'DEVICE_ATTACH_TIMEOUT');
  const inTime = track(server.hub.wait(host, [], 6));
  clock.advance(999);
  server.hub.report(host, 6, emptyReport('fake'));
  assert.equal(await state(inTime), 'ok');
  assert.equal(clock.pending, 1, 'the answered wait cancelled its deadline (the host\'s liveness deadline stays)');
  server.close();
});

test('tunnel controller: an agent\'s first report is noticed by the retry, a timer on the injected clock', async () => {
  const { clock, server, host } = setup();
  const { tunnel, access } = server.store.transact((tx) => {
    const plain = { other_config: {}, MTU: 1500 };
    const mesh = tx.create('network', { ...plain, name_label: 'mesh', bridge: 'xapi9', other_config: { [TUNNEL_KEY]: '1' } });
    const underlay = tx.create('network', { ...plain, name_label: 'underlay', bridge: 'xenbr1' });
    const transport = tx.create('PIF', { device: 'eth1', network: underlay, host, metrics: tx.create('PIF_metrics', { other_config: {} }),
      physical: true, currently_attached: true, ip_configuration_mode: 'Static', IP: '192.0.2.1', netmask: '255.255.255.0' });
    const made = createTunnelRecords(tx, transport, mesh, 'gre');
    tx.update('PIF', made.pif, { currently_attached: true });
    // as a report from this (simulated Open vSwitch) host would leave it: the report below writes nothing
    tx.update('host', host, { software_version: { ...(tx.get('host', host).software_version as Record<string, string>), network_backend: 'openvswitch' } });
    return { tunnel: made.tunnel, access: made.pif };
  });
  const active = () => (server.store.get('tunnel', tunnel).status as Record<string, string>).active;
  const controller = startTunnelController(server, clock);
  await tick(); // its first pass: the key is there (nothing to write), the host has no agent
  assert.equal(active(), 'false');
  assert.equal(clock.pending, 1, 'no agent yet: a retry is due');
  // The agent's first report commits nothing the controller follows: only the retry sees it.
  server.hub.report(host, server.store.generation, emptyReport('fake'));
  await tick();
  assert.equal(active(), 'false', 'not before the retry');
  clock.advance(499);
  await tick();
  assert.equal(active(), 'false', 'not before the retry');
  clock.advance(1);
  for (let i = 0; i < 5 && active() !== 'true'; i++) await tick();
  assert.equal(active(), 'true', `the retry saw the agent (access PIF ${access})`);
  controller.stop();
  assert.equal(clock.pending, 1, 'only the host\'s liveness deadline');
  server.close();
});

test('hub: host_metrics.live is true from a report and false once no report came for HOST_LIVE_TIMEOUT_MS, true again at the next', async () => {
  const { clock, server, host } = setup();
  const live = () => server.store.get('host_metrics', server.store.get('host', host).metrics).live;
  assert.equal(live(), false, 'no agent yet');
  server.hub.report(host, 0, emptyReport('fake'));
  assert.equal(live(), true);
  clock.advance(HOST_LIVE_TIMEOUT_MS - 1);
  server.hub.report(host, 0, emptyReport('fake')); // the heartbeat moves the deadline
  clock.advance(HOST_LIVE_TIMEOUT_MS - 1);
  assert.equal(live(), true);
  clock.advance(1);
  assert.equal(live(), false);
  server.hub.report(host, 0, emptyReport('fake'));
  assert.equal(live(), true);
  server.close();
});
