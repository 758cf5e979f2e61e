// The real npm `xen-api` client (Xen Orchestra's), unchanged, against a real xcpnet master,
// over each of its transports. The client: npm xen-api (vatesfr/xen-orchestra, packages/xen-api).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'xen-api';
import { ROOT_PASSWORD, startTestPool, type TestPool } from '../support/master.js';

for (const transport of ['json-rpc', 'xml-rpc', 'auto'] as const) {
  describe(`xen-api over ${transport}`, () => {
    let pool: TestPool;
    let xapi: ReturnType<typeof createClient>;
    before(async () => {
      pool = await startTestPool();
      xapi = createClient({
        url: pool.url, auth: { user: 'root', password: ROOT_PASSWORD }, allowUnauthorized: true,
        transport, eventPollDelay: 200, debounce: 20,
      });
      await xapi.connect();
      await xapi.objectsFetched;
    });
    after(async () => {
      await xapi.disconnect().catch(() => {});
      await pool.close();
    });

    test('connects, finds the pool and fetches every class', async () => {
      assert.equal(xapi.status, 'connected');
      assert.match(xapi.pool.$ref, /^OpaqueRef:/);
      await xapi.objectsFetched;
      assert.ok(Object.keys(xapi.objects.indexes.type.host ?? {}).length >= 1);
      assert.ok(Object.keys(xapi.objects.indexes.type.network ?? {}).length >= 1, 'the host-internal management network');
    });

    test('a network created by call() arrives in the cache through events (barrier)', async () => {
      const ref = await xapi.call<string>('network.create', { name_label: `net-${transport}`, name_description: '', MTU: 1500, other_config: {} });
      const net = await xapi.barrier(ref);
      assert.equal(net.$type, 'network');
      assert.equal(net.name_label, `net-${transport}`);
      assert.equal(xapi.getObject(net.uuid).$ref, ref);
      assert.equal(xapi.getObjectByRef(ref).uuid, net.uuid);

      const vm = Object.values(xapi.objects.indexes.type.VM!)[0]!;
      const vif = await xapi.call<string>('VIF.create', { device: '7', network: ref, VM: vm.$ref, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
      const v = await xapi.barrier(vif);
      assert.equal(v.$network.$ref, ref);
      assert.match(v.MAC, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    });

    test('an invalid reference is a XapiError with HANDLE_INVALID and its params', async () => {
      const vm = Object.values(xapi.objects.indexes.type.VM!)[0]!;
      let err: any;
      try {
        await xapi.call('VIF.create', { device: '8', network: 'OpaqueRef:bogus', VM: vm.$ref, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
      } catch (e) { err = e; }
      assert.equal(err?.code, 'HANDLE_INVALID');
      assert.deepEqual(err.params, ['network', 'OpaqueRef:bogus']);
      assert.equal(err.call.method, 'VIF.create');
      assert.ok(err instanceof Error);
    });

    test('callAsync runs through a task and resolves with its result', async () => {
      const ref = await xapi.call<string>('network.create', { name_label: 'to-destroy', other_config: {} });
      await xapi.barrier(ref);
      const result = await xapi.callAsync('network.destroy', ref);
      assert.equal(result, '');
      await assert.rejects(xapi.call('network.get_record', ref), (e: any) => e.code === 'HANDLE_INVALID');
      const label = await xapi.callAsync('network.get_record', ref).catch((e: any) => e.code);
      assert.equal(label, 'Fault', 'getters have no Async form');
    });
  });
}
