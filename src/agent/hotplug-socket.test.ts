// The agent's hotplug socket: root-only (born 0600), one bounded, whole-checked request per
// connection; what is not a well-formed request never reaches the handler.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveHotplug } from './hotplug-socket.js';
import type { HotplugRequest } from '../protocol/hotplug.js';

function ask(path: string, bytes: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    s.on('connect', () => s.write(bytes));
    s.on('data', (c) => { buf += c.toString(); });
    s.on('error', reject);
    s.on('end', () => resolve(JSON.parse(buf) as Record<string, unknown>));
  });
}

test('hotplug socket: 0600; oversized, non-JSON and ill-typed requests refused before the handler; a good one answered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-hp-'));
  const seen: HotplugRequest[] = [];
  const sock = await serveHotplug(join(dir, 'agent', 'vif-hotplug.sock'), async (r) => { seen.push(r); return { ok: true, message: 'done' }; });
  try {
    assert.equal(statSync(sock.path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'agent')).mode & 0o777, 0o700);
    assert.match(String((await ask(sock.path, 'x'.repeat(5000))).error), /longer than 4096 bytes/);
    assert.match(String((await ask(sock.path, '{nope\n')).error), /not JSON/);
    assert.match(String((await ask(sock.path, '{"op":"add","device":"a/b","domid":1,"find":{"mac":"52:54:00:00:00:01"}}\n')).error), /invalid device name/);
    assert.match(String((await ask(sock.path, '{"op":"remove","device":"tap0","shell":"reboot"}\n')).error), /invalid request member/);
    assert.equal(seen.length, 0);
    assert.deepEqual(await ask(sock.path, '{"op":"remove","device":"tap0"}\n'), { ok: true, message: 'done' });
    assert.deepEqual(seen, [{ op: 'remove', device: 'tap0' }]);
  } finally {
    await sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
