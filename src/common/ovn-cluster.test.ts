import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterRemote, ovnClusterOf, raftAddress } from './ovn-cluster.js';
import { isOvnRemote, parseOvnCluster } from '../idl/checks.js';

const U = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
const hosts = {
  'OpaqueRef:a': { uuid: U[0], address: '10.0.0.1' },
  'OpaqueRef:b': { uuid: U[1], address: '10.0.0.2' },
  'OpaqueRef:c': { uuid: U[2], address: '10.0.0.3' },
};

test('the cluster: the master first (it makes the cluster), then the others in the order given', () => {
  const c = ovnClusterOf(parseOvnCluster(U.join(',')), hosts, 'OpaqueRef:b')!;
  assert.deepEqual(c.members, [{ host: 'OpaqueRef:b', address: '10.0.0.2' }, { host: 'OpaqueRef:a', address: '10.0.0.1' }, { host: 'OpaqueRef:c', address: '10.0.0.3' }]);
  assert.equal(clusterRemote(c, 'nb'), 'ssl:10.0.0.2:6641,ssl:10.0.0.1:6641,ssl:10.0.0.3:6641');
  assert.equal(clusterRemote(c, 'sb'), 'ssl:10.0.0.2:6642,ssl:10.0.0.1:6642,ssl:10.0.0.3:6642');
  assert.equal(raftAddress('10.0.0.1', 'nb'), 'ssl:10.0.0.1:6643');
  assert.equal(raftAddress('10.0.0.1', 'sb'), 'ssl:10.0.0.1:6644');
  assert.ok(isOvnRemote(clusterRemote(c, 'sb')), 'the published southbound remote passes its own key rule');
});

test('no cluster: key absent or bad, a member gone or without an address, the master not a member', () => {
  assert.equal(ovnClusterOf(undefined, hosts, 'OpaqueRef:a'), undefined);
  assert.equal(parseOvnCluster(`${U[0]},${U[0]},${U[1]}`), undefined);
  assert.equal(parseOvnCluster(`${U[0]},${U[1]}`), undefined);
  assert.equal(ovnClusterOf(parseOvnCluster(U.join(',')), { ...hosts, 'OpaqueRef:c': { uuid: U[2], address: '' } }, 'OpaqueRef:a'), undefined);
  const { 'OpaqueRef:c': _gone, ...two } = hosts;
  assert.equal(ovnClusterOf(parseOvnCluster(U.join(',')), two, 'OpaqueRef:a'), undefined);
  assert.equal(ovnClusterOf(parseOvnCluster(U.join(',')), hosts, 'OpaqueRef:other'), undefined);
  assert.equal(isOvnRemote('tcp:10.0.0.1:6642,tcp:10.0.0.2:6642,tcp:10.0.0.3:6642,tcp:10.0.0.4:6642'), false, 'at most three members');
  assert.equal(isOvnRemote('tcp:10.0.0.1:6642,'), false);
});
