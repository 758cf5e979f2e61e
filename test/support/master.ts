// Test harness: a real `xcpnet serve` master in-process (temporary state directory, ephemeral
// TCP port, the rule modules loaded) and a logged-in JSON-RPC client talking to it over HTTP
// on loopback, or over HTTPS (`tls: true`, the master's own certificate trusted); and the
// standalone hosts of the pool membership tests.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../../src/client/index.js';
import { ApiError } from '../../src/common/api-error.js';
import { RULES } from '../../src/server/impl/index.js';
import { startMaster, type Master } from '../../src/server/serve.js';
import { simulatedLocalAgent } from '../../src/bin/local-agent.js';
import type { FakeHost } from '../../src/backends/fake/host.js';
import type { MasterTrust } from '../../src/server/member.js';
import assert from 'node:assert/strict';

export const ROOT_PASSWORD = 'test-root-pw';

export interface TestPool {
  master: Master;
  client: XapiClient;
  url: string;
  stateDir: string;
  /** The master's own host, simulated (its NICs can be changed through it). */
  fakeHost: FakeHost;
  /** With tls: the master's certificate (PEM), which the client trusts. */
  cert?: string;
  /** Calls a method; the session is added. */
  call<T = unknown>(method: string, ...params: unknown[]): Promise<T>;
  close(): Promise<void>;
}

export async function startTestPool(opts: { fakeNics?: number; changeLogSize?: number; tls?: boolean } = {}): Promise<TestPool> {
  const stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-test-'));
  let fakeHost: FakeHost | undefined;
  const master = await startMaster({
    stateDir, listen: { host: '127.0.0.1', port: 0 }, http: opts.tls ? undefined : 'loopback', rootPassword: ROOT_PASSWORD, impls: RULES,
    localAgent: simulatedLocalAgent(opts.fakeNics ?? 4, (h) => { fakeHost = h; }), changeLogSize: opts.changeLogSize, log: () => {},
  } as Parameters<typeof startMaster>[0]);
  // startMaster returns once the in-process agent has reported: the master's host never needs a
  // stand-in agent in a test.
  assert.ok(master.server.hub.hasAgent(master.host), 'the in-process agent has reported');
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${master.listener.tcpPort}`;
  const cert = opts.tls ? readFileSync(join(stateDir, 'server.pem'), 'utf8') : undefined;
  const client = await XapiClient.connect({ target: url, user: 'root', password: ROOT_PASSWORD, trust: { ca: cert } });
  return {
    master, client, url, stateDir, fakeHost: fakeHost!, cert,
    call: (method, ...params) => client.call(method, ...params),
    async close() {
      await client.close().catch(() => {});
      await master.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Asserts that `p` fails with exactly this XenAPI error code and parameters. */
export async function assertApiError(p: Promise<unknown>, code: string, params?: unknown[]): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (!ApiError.is(e)) throw e;
    assert.equal(e.code, code, `expected ${code}${params ? JSON.stringify(params) : ''}, got ${e.code}${JSON.stringify(e.params)}`);
    if (params) assert.deepEqual(e.params, params.map(String));
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

/** A standalone host: its own `xcpnet serve` in-process, a pool of one, as a host is before it joins. */
export interface StandaloneHost {
  name: string;
  master: Master;
  dir: string;
  /** Whatever client the test opened on it: closed with the host. */
  client?: XapiClient;
}

/**
 * The standalone hosts of one test file, each on its own loopback address (the state directory
 * named by `tag`); `close` ends them all, the last started first. XCPNET_TEST_LOG=1 prints
 * their logs.
 */
export class StandaloneHosts {
  private readonly started: StandaloneHost[] = [];

  constructor(private readonly tag: string) {}

  async start(name: string, ip: string, o: { port?: number; http?: 'loopback'; masterTrust?: MasterTrust } = {}): Promise<StandaloneHost> {
    const dir = mkdtempSync(join(tmpdir(), `xcpnet-${this.tag}-${name}-`));
    const master = await startMaster({
      stateDir: dir, listen: { host: ip, port: o.port ?? 0 }, rootPassword: ROOT_PASSWORD, impls: RULES, localAgent: simulatedLocalAgent(2),
      hostName: name, log: process.env.XCPNET_TEST_LOG ? (l) => process.stderr.write(`[${name}] ${l}\n`) : () => {}, memberWatchS: 1,
      ...(o.http ? { http: o.http } : {}), ...(o.masterTrust ? { masterTrust: o.masterTrust } : {}),
    });
    const h: StandaloneHost = { name, master, dir };
    this.started.push(h);
    return h;
  }

  async close(): Promise<void> {
    for (const h of this.started.reverse()) {
      await h.client?.close().catch(() => {});
      await h.master.close();
      rmSync(h.dir, { recursive: true, force: true });
    }
  }
}
