// The Open vSwitch watcher against a stand-in for ovs-vswitchd's control socket (a unix socket
// server that can "die") and a scripted OVSDB session state.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { vswitchdCtl, watchOvs } from './health.js';

/** A process's control socket: listening, or dead (every connection cut, nobody listening). */
class FakeDaemon {
  private server?: Server;
  private conns = new Set<Socket>();
  constructor(readonly path: string) {}
  listen(): Promise<void> {
    rmSync(this.path, { force: true });
    const s = createServer((c) => { this.conns.add(c); c.on('close', () => this.conns.delete(c)); });
    this.server = s;
    return new Promise((r) => s.listen(this.path, r));
  }
  /** As SIGKILL: connections closed by the kernel; the socket file stays behind, refusing. */
  kill(): Promise<void> {
    for (const c of this.conns) c.destroy();
    const s = this.server!;
    return new Promise((r) => s.close(() => { writeFileSync(this.path, ''); r(); }));
  }
}

function scriptedDb() {
  const fns = new Set<(up: boolean) => void>();
  const db = { connected: true, onState: (fn: (up: boolean) => void) => { fns.add(fn); return () => { fns.delete(fn); }; } };
  return { db, set(up: boolean) { db.connected = up; for (const f of fns) f(up); } };
}

const nextChange = (h: { onChange(cb: (up: boolean) => void): () => void }) => new Promise<boolean>((resolve) => {
  const off = h.onChange((up) => { off(); resolve(up); });
});

test('ovs-vswitchd: found by its ctl file, else by its pidfile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-ovs-run-'));
  try {
    assert.equal(vswitchdCtl(dir), undefined);
    writeFileSync(join(dir, 'ovs-vswitchd.pid'), '4242\n');
    assert.equal(vswitchdCtl(dir), join(dir, 'ovs-vswitchd.4242.ctl'));
    writeFileSync(join(dir, 'ovs-vswitchd.pid'), 'garbage\n');
    assert.equal(vswitchdCtl(dir), undefined);
    writeFileSync(join(dir, 'ovs-vswitchd.ctl'), '');
    assert.equal(vswitchdCtl(dir), join(dir, 'ovs-vswitchd.ctl'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a killed ovs-vswitchd is seen at once, a new one as soon as it listens; ovsdb-server through the session', { timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-ovs-run-'));
  const daemon = new FakeDaemon(join(dir, 'ovs-vswitchd.ctl'));
  const { db, set } = scriptedDb();
  await daemon.listen();
  const h = watchOvs({ db, ctlPath: () => vswitchdCtl(dir), backoff: { minBackoffMs: 5, maxBackoffMs: 20 } });
  try {
    await h.settled;
    assert.equal(h.up, true);
    assert.equal(h.reason, '');

    let change = nextChange(h);
    await daemon.kill();
    assert.equal(await change, false);
    assert.equal(h.reason, 'ovs-vswitchd is not running');

    change = nextChange(h);
    await daemon.listen();
    assert.equal(await change, true, 'the new daemon is found');

    change = nextChange(h);
    set(false);
    assert.equal(await change, false);
    assert.equal(h.reason, 'ovsdb-server is not reachable');
    change = nextChange(h);
    set(true);
    assert.equal(await change, true);
  } finally {
    h.close();
    await daemon.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nothing listening at start: down, then up once the daemon comes', { timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-ovs-run-'));
  const daemon = new FakeDaemon(join(dir, 'ovs-vswitchd.ctl'));
  const { db } = scriptedDb();
  const h = watchOvs({ db, ctlPath: () => vswitchdCtl(dir), backoff: { minBackoffMs: 5, maxBackoffMs: 20 } });
  try {
    await h.settled;
    assert.equal(h.up, false);
    const change = nextChange(h);
    await daemon.listen();
    assert.equal(await change, true);
  } finally {
    h.close();
    await daemon.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
