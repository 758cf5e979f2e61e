// The agent follows the host's pool membership (serve's pool-member.json): where it logs in, with
// which credential and trust, and when it starts over with another master.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiError } from '../common/api-error.js';
import type { MemberConfig } from '../protocol/pool-member.js';
import { FileHostCache } from './host-cache.js';
import { isDesired } from './index.js';
import type { MasterSession } from './master-link.js';
import { membershipKey, MembershipLink, placeFor, type LoginPlace } from './membership.js';

const OWN: LoginPlace = { target: 'unix:/run/xcpnet/xapi.sock', credential: { host: 'OpaqueRef:local', secret: 's0' }, trust: {}, masterAddress: '', member: false };
const MEMBER: MemberConfig = {
  master: 'https://192.0.2.11', masterAddress: '192.0.2.11', host: 'OpaqueRef:in-pool', hostUuid: '11111111-2222-3333-4444-555555555555',
  secret: 's1', trust: { fingerprint: 'AB:CD' },
};
const text = (c: unknown) => `${JSON.stringify(c)}\n`;

test('placeFor: no file is the place the agent was given; a member file is its master, credential and trust', () => {
  assert.equal(placeFor(undefined, 'F', OWN), OWN);
  assert.deepEqual(placeFor(text(MEMBER), 'F', OWN), {
    target: 'https://192.0.2.11', credential: { host: 'OpaqueRef:in-pool', secret: 's1' }, trust: { fingerprint: 'AB:CD' }, masterAddress: '192.0.2.11', member: true,
  });
  const { trust: _, ...older } = MEMBER;
  assert.deepEqual(placeFor(text(older), 'F', OWN).trust, {}, 'a file without trust: the system\'s CAs');
  assert.throws(() => placeFor('{"master": "https://x"', 'F', OWN), /F: not JSON/);
  assert.throws(() => placeFor(text({ ...MEMBER, secret: '' }), 'F', OWN), /F: no secret/);
  assert.throws(() => placeFor(text({ ...MEMBER, master: 'unix:/tmp/x' }), 'F', OWN), /not an http\(s\) URL/);
  assert.throws(() => placeFor(text({ ...MEMBER, trust: { fingerprint: 1 } }), 'F', OWN), /trust is not/);
});

test('membershipKey: a rotated secret is the same membership; another master or another host ref is not', () => {
  const m = placeFor(text(MEMBER), 'F', OWN);
  assert.equal(membershipKey(placeFor(text({ ...MEMBER, secret: 's2' }), 'F', OWN)), membershipKey(m));
  assert.notEqual(membershipKey(placeFor(text({ ...MEMBER, host: 'OpaqueRef:again' }), 'F', OWN)), membershipKey(m));
  assert.notEqual(membershipKey(placeFor(text({ ...MEMBER, master: 'https://192.0.2.12' }), 'F', OWN)), membershipKey(m));
  assert.notEqual(membershipKey(OWN), membershipKey(m));
});

/** Servers by target: each login and call is recorded; `slave` servers answer HOST_IS_SLAVE. */
function servers() {
  const logins: { target: string; secret: string; trust: unknown }[] = [];
  const closed: string[] = [];
  const slave = new Set<string>();
  let n = 0;
  const connect = async (p: LoginPlace): Promise<MasterSession> => {
    logins.push({ target: p.target, secret: p.credential.secret, trust: p.trust });
    const session = `${p.target}#${++n}`;
    return {
      call: async (method) => {
        if (slave.has(p.target)) throw new ApiError('HOST_IS_SLAVE', ['192.0.2.11']);
        return `${method}@${session}`;
      },
      close: async () => { closed.push(session); },
    };
  };
  return { logins, closed, slave, connect };
}

test('MembershipLink: standalone, then the host joins (its serve answers HOST_IS_SLAVE), a secret is rotated, then it is ejected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-membership-'));
  const file = join(dir, 'pool-member.json');
  const s = servers();
  const lines: string[] = [];
  const link = new MembershipLink(file, OWN, s.connect, (l) => lines.push(l));
  try {
    assert.equal(await link.call('event.from'), 'event.from@unix:/run/xcpnet/xapi.sock#1');
    assert.equal(link.masterChanges, 0);

    // xe pool-join: serve writes the file and answers HOST_IS_SLAVE from then on.
    s.slave.add(OWN.target);
    writeFileSync(file, text(MEMBER));
    await assert.rejects(link.call('event.from'), /HOST_IS_SLAVE/);
    assert.equal(link.masterChanges, 1, 'the failed call had the file read: another master');
    assert.deepEqual(s.closed, ['unix:/run/xcpnet/xapi.sock#1'], 'the old session is ended (a long poll on it fails at once)');
    assert.equal(await link.call('event.from'), 'event.from@https://192.0.2.11#2');
    assert.deepEqual(s.logins.at(-1), { target: 'https://192.0.2.11', secret: 's1', trust: { fingerprint: 'AB:CD' } });
    assert.equal(link.current.masterAddress, '192.0.2.11');

    // pool-secret-rotate: serve collects the next secret and rewrites the file; the session stays.
    writeFileSync(file, text({ ...MEMBER, secret: 's2' }));
    link.recheck();
    assert.equal(link.masterChanges, 1, 'the same membership');
    assert.equal(await link.call('host.get_uuid'), 'host.get_uuid@https://192.0.2.11#2', 'the session is kept');
    s.slave.add(MEMBER.master); // (any failure) the next login takes the new secret
    await assert.rejects(link.call('x'));
    s.slave.delete(MEMBER.master);
    link.resetConnections();

    // A damaged file is not followed: the agent keeps its master and says why.
    writeFileSync(file, '{"master"');
    link.recheck();
    assert.equal(link.current.target, MEMBER.master);
    assert.ok(lines.some((l) => /pool-member\.json: not JSON; .*; keeping https:\/\/192\.0\.2\.11$/.test(l)), lines.join('\n'));

    // xe pool-eject: serve notices, removes the file and serves again.
    unlinkSync(file);
    s.slave.delete(OWN.target);
    link.recheck();
    assert.equal(link.masterChanges, 2);
    assert.equal(await link.call('event.from'), 'event.from@unix:/run/xcpnet/xapi.sock#3');
    assert.deepEqual(s.logins.map((l) => `${l.target} ${l.secret}`), ['unix:/run/xcpnet/xapi.sock s0', 'https://192.0.2.11 s1', 'unix:/run/xcpnet/xapi.sock s0']);
    assert.ok(lines.some((l) => /pool member now: following its master https:\/\/192\.0\.2\.11/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /no pool member now: back to unix:/.test(l)), lines.join('\n'));
  } finally {
    await link.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MembershipLink: the file is watched: a join is followed without any call failing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-membership-'));
  const file = join(dir, 'pool-member.json');
  const s = servers();
  const link = new MembershipLink(file, OWN, s.connect, () => {});
  try {
    await link.call('event.from');
    writeFileSync(`${file}.tmp`, text(MEMBER));
    const { renameSync } = await import('node:fs');
    renameSync(`${file}.tmp`, file); // as serve writes it
    const deadline = Date.now() + 5000;
    while (link.masterChanges === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(link.masterChanges, 1, 'the change was seen by the watch');
    assert.equal(await link.call('event.from'), 'event.from@https://192.0.2.11#2');
  } finally {
    await link.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the local copy of another pool\'s configuration of this host (same uuid, another ref) is not realised', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-membership-'));
  try {
    const uuid = MEMBER.hostUuid;
    const config = { doc: { host: uuid, bridges: [], vifs: [], addresses: [] }, errors: {}, vms: [], pifs: [], bonds: [] };
    new FileHostCache(dir, uuid, isDesired).save({ hostUuid: uuid, hostRef: 'OpaqueRef:local', generation: 7, config: config as never });
    const lines: string[] = [];
    assert.equal(new FileHostCache(dir, uuid, isDesired, (l) => lines.push(l), 'OpaqueRef:in-pool').load(), undefined);
    assert.match(lines.join('\n'), /saved in another pool \(this host was OpaqueRef:local there, is OpaqueRef:in-pool now\)/);
    assert.equal(new FileHostCache(dir, uuid, isDesired, () => {}, 'OpaqueRef:local').load()?.generation, 7, 'the same pool\'s copy is');
    assert.equal(new FileHostCache(dir, uuid, isDesired).load()?.generation, 7, 'no ref known: the uuid decides');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
