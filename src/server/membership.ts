// Pool membership as on XCP: pool.join runs on a standalone host, which connects to the master
// and asks it (pool.admit_host) to take it in; pool.eject and host.destroy remove a member. The
// checks follow xapi's pre-join checks (ocaml/xapi/xapi_pool.ml, pre_join_checks) that apply
// to xcpnet, in xapi's order, with xapi's error codes. Physical networks merge by bridge name as
// in xapi's create_or_get_network_on_master: a NIC's network is xenbr<N> on every host.

import { randomUUID } from 'node:crypto';
import { ApiError } from '../common/api-error.js';
import { isIPv4, isMac, isNetmask } from '../common/net-syntax.js';
import type { Tx } from '../db/store.js';
import { isCertFingerprint } from '../idl/checks.js';
import { NULL_REF, type Rec, type Value } from '../idl/meta.js';
import { createHost } from './boot.js';
import type { CallContext, ImplTable } from './context.js';
import type { HostCredentials } from './host-credentials.js';
import { nicNetwork } from './impl/pif.js';
import type { Sessions } from './sessions.js';
import { destroyHostMetrics } from './impl/host-metrics.js';
import { isRef } from './impl/common.js';

/** What a joining host tells the master about itself (pool.admit_host's argument). */
export interface Joiner {
  uuid: string;
  name_label: string;
  hostname: string;
  address: string;
  API_version_major: number;
  API_version_minor: number;
  PIFs: JoinerPif[];
  /**
   * The SHA-256 fingerprint of the TLS certificate the joining host serves (absent when it serves
   * none, and from hosts of older versions): how the master checks it when it calls the host
   * (pool.recover_slaves). Kept as the host's Certificate record, as xapi keeps host certificates.
   */
  certificate_fingerprint?: string;
}

export interface JoinerPif {
  uuid: string; device: string; MAC: string; MTU: number; management: boolean; currently_attached: boolean;
  ip_configuration_mode: string; IP: string; netmask: string; gateway: string; DNS: string;
}

/** What the master answers: the member's host ref and its credential. */
export interface Admission { host: string; secret: string }

/** The joining host's side of pool.join: set by `xcpnet serve`, absent in a bare server. */
export interface JoinHooks {
  join(ctx: CallContext, masterAddress: string, user: string, password: string): Promise<void>;
}

/** A member's agent counts as alive when its credential was used this recently (its event.from waits 30 s). */
export const HOST_LIVE_MS = 90_000;
/** Most physical PIFs a joining host may bring. */
export const JOIN_MAX_PIFS = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

function bad(field: string, v: unknown): never { throw new ApiError('INVALID_VALUE', [field, JSON.stringify(v)?.slice(0, 100) ?? '']); }

function text(o: Rec, k: string, max: number, ok: (s: string) => boolean = () => true): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max || !ok(v)) bad(`joiner.${k}`, v);
  return v;
}

function int(o: Rec, k: string, lo: number, hi: number): number {
  const v = Number(o[k]);
  if (!Number.isInteger(v) || v < lo || v > hi) bad(`joiner.${k}`, o[k]);
  return v;
}

/** Checks every field of a joiner: it comes from another machine. */
export function parseJoiner(v: Value): Joiner {
  if (!v || typeof v !== 'object' || Array.isArray(v)) bad('joiner', v);
  const o = v as Rec;
  const ipOrEmpty = (s: string): boolean => s === '' || isIPv4(s);
  const pifs = o.PIFs;
  if (!Array.isArray(pifs) || pifs.length > JOIN_MAX_PIFS) bad('joiner.PIFs', `${Array.isArray(pifs) ? pifs.length : typeof pifs}`);
  const seen = new Set<string>();
  const PIFs = pifs.map((x): JoinerPif => {
    if (!x || typeof x !== 'object' || Array.isArray(x)) bad('joiner.PIFs', x);
    const r = x as Rec;
    const device = text(r, 'device', 15, (s) => DEVICE.test(s));
    if (seen.has(device)) bad('joiner.PIFs.device', device);
    seen.add(device);
    return {
      uuid: text(r, 'uuid', 36, (s) => UUID.test(s)), device, MAC: text(r, 'MAC', 17, isMac), MTU: int(r, 'MTU', 68, 65535),
      management: r.management === true, currently_attached: r.currently_attached === true || r.management === true,
      ip_configuration_mode: text(r, 'ip_configuration_mode', 6, (s) => ['None', 'DHCP', 'Static'].includes(s)),
      IP: text(r, 'IP', 15, ipOrEmpty), netmask: text(r, 'netmask', 15, (s) => s === '' || isNetmask(s)),
      gateway: text(r, 'gateway', 15, ipOrEmpty), DNS: text(r, 'DNS', 255, (s) => s.split(',').every(ipOrEmpty)),
    };
  });
  if (PIFs.filter((p) => p.management).length > 1) bad('joiner.PIFs.management', 'more than one');
  return {
    uuid: text(o, 'uuid', 36, (s) => UUID.test(s)), name_label: text(o, 'name_label', 255), hostname: text(o, 'hostname', 255),
    address: text(o, 'address', 15, ipOrEmpty),
    API_version_major: int(o, 'API_version_major', 0, 1000), API_version_minor: int(o, 'API_version_minor', 0, 1000),
    PIFs,
    ...(o.certificate_fingerprint === undefined ? {} : { certificate_fingerprint: text(o, 'certificate_fingerprint', 95, isCertFingerprint) }),
  };
}

/** The joining host's own description, read from its database. */
export function describeSelf(tx: Pick<Tx, 'all' | 'get'>, host: string): Joiner {
  const h = tx.get('host', host);
  const PIFs = tx.all('PIF').filter(([, p]) => p.host === host && p.physical === true && Number(p.VLAN) === -1).map(([, p]) => ({
    uuid: String(p.uuid), device: String(p.device), MAC: String(p.MAC), MTU: Number(p.MTU), management: p.management === true,
    currently_attached: p.currently_attached === true,
    ip_configuration_mode: String(p.ip_configuration_mode), IP: String(p.IP), netmask: String(p.netmask),
    gateway: String(p.gateway), DNS: String(p.DNS),
  }));
  return {
    uuid: String(h.uuid), name_label: String(h.name_label), hostname: String(h.hostname), address: String(h.address),
    API_version_major: Number(h.API_version_major), API_version_minor: Number(h.API_version_minor), PIFs,
  };
}

/**
 * The checks the joining host makes on itself (xapi's order): it is the master of no other
 * host, runs no VM, has no bond, tunnel or VLAN (xcpnet has no management VLAN to keep).
 */
export function assertMayJoin(tx: Pick<Tx, 'all'>): void {
  if (tx.all('host').length > 1) throw new ApiError('POOL_JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS', []);
  if (tx.all('VM').some(([, vm]) => vm.is_control_domain !== true && vm.power_state !== 'Halted')) {
    throw new ApiError('POOL_JOINING_HOST_CANNOT_HAVE_RUNNING_VMS', []);
  }
  if (tx.all('Bond').length) throw new ApiError('POOL_JOINING_HOST_HAS_BONDS', []);
  if (tx.all('tunnel').length) throw new ApiError('POOL_JOINING_HOST_HAS_TUNNELS', []);
  if (tx.all('VLAN').length) throw new ApiError('POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS', []);
}

/** The master's checks on a joiner: not itself, not a host it has, the same API version. */
export function assertMayAdmit(tx: Pick<Tx, 'all' | 'get'>, master: string, j: Joiner): void {
  const masterRec = tx.get('host', master);
  if (j.uuid === masterRec.uuid) throw new ApiError('OPERATION_NOT_ALLOWED', ['Host cannot become slave of itself']);
  if (tx.all('host').some(([, h]) => h.uuid === j.uuid)) {
    throw new ApiError('OPERATION_NOT_ALLOWED', [`A host with uuid ${j.uuid} is already a member of this pool`]);
  }
  const mine = `${masterRec.API_version_major}.${masterRec.API_version_minor}`;
  const theirs = `${j.API_version_major}.${j.API_version_minor}`;
  if (mine !== theirs) throw new ApiError('POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION', [theirs, mine]);
}

/** The joiner's host, its control domain and its physical PIFs on the pool's networks. */
export function admit(tx: Tx, j: Joiner): string {
  const host = createHost(tx, j.name_label, j.address, j.hostname, j.uuid);
  const used = new Set(tx.all('PIF').map(([, p]) => p.uuid));
  for (const p of j.PIFs) {
    const { bridge, name } = nicNetwork(p.device);
    const network = tx.all('network').find(([, n]) => n.bridge === bridge)?.[0]
      ?? tx.create('network', { name_label: name, name_description: '', MTU: 1500, other_config: {}, bridge, managed: true });
    const metrics = tx.create('PIF_metrics', { other_config: {} });
    tx.create('PIF', {
      uuid: used.has(p.uuid) ? randomUUID() : p.uuid,
      device: p.device, device_name: p.device, network, host, MAC: p.MAC.toLowerCase(), MTU: p.MTU, VLAN: -1, metrics,
      physical: true, currently_attached: p.currently_attached, management: p.management, managed: true,
      ip_configuration_mode: p.ip_configuration_mode, IP: p.IP, netmask: p.netmask, gateway: p.gateway, DNS: p.DNS,
      IPv6: [], ipv6_configuration_mode: 'None', ipv6_gateway: '', other_config: {}, properties: { gro: 'on' }, capabilities: [],
      primary_address_type: 'IPv4',
    });
    if (p.management) tx.update('host', host, { management_bridge: bridge, management_address_type: 'ipv4' });
  }
  if (j.certificate_fingerprint !== undefined) recordFingerprint(tx, host, j.certificate_fingerprint);
  return host;
}

/** Makes `fingerprint` the host's one Certificate record of type host. */
function recordFingerprint(tx: Tx, host: string, fingerprint: string): void {
  const mine = tx.all('Certificate').filter(([, c]) => c.host === host && c.type === 'host');
  if (mine.length === 1 && mine[0]![1].fingerprint === fingerprint) return;
  for (const [ref] of mine) tx.destroy('Certificate', ref);
  tx.create('Certificate', { name: '', type: 'host', host, fingerprint });
}

/** The fingerprint of the TLS certificate a member serves, as it sent it at its join ('' if it did not). */
export function hostFingerprint(tx: Pick<Tx, 'all'>, host: string): string {
  const cert = tx.all('Certificate').find(([, c]) => c.host === host && c.type === 'host');
  return typeof cert?.[1].fingerprint === 'string' ? cert[1].fingerprint : '';
}

/** Removes a host and everything that exists only on it from the pool database. */
export function removeHost(tx: Tx, host: string): void {
  const pifs = new Set(tx.all('PIF').filter(([, p]) => p.host === host).map(([ref]) => ref));
  for (const [ref, t] of tx.all('tunnel')) if (pifs.has(t.access_PIF) || pifs.has(t.transport_PIF)) tx.destroy('tunnel', ref);
  for (const [ref, v] of tx.all('VLAN')) if (pifs.has(v.tagged_PIF) || pifs.has(v.untagged_PIF)) tx.destroy('VLAN', ref);
  for (const [ref, b] of tx.all('Bond')) if (pifs.has(b.master)) tx.destroy('Bond', ref);
  const metrics = new Set<string>();
  for (const ref of pifs) {
    const m = tx.get('PIF', ref).metrics;
    if (m && m !== NULL_REF) metrics.add(m);
    tx.destroy('PIF', ref);
  }
  for (const m of metrics) if (tx.find('PIF_metrics', m)) tx.destroy('PIF_metrics', m);
  for (const [ref, vm] of tx.all('VM')) {
    if (vm.is_control_domain === true && vm.resident_on === host) {
      for (const [vif, v] of tx.all('VIF')) if (v.VM === ref) tx.destroy('VIF', vif);
      if (isRef(vm.metrics) && tx.find('VM_metrics', vm.metrics)) tx.destroy('VM_metrics', vm.metrics);
      tx.destroy('VM', ref);
    } else if (vm.affinity === host) tx.update('VM', ref, { affinity: NULL_REF });
  }
  for (const [ref, c] of tx.all('Certificate')) if (c.host === host) tx.destroy('Certificate', ref);
  destroyHostMetrics(tx, host);
  tx.destroy('host', host);
}

const residentVms = (tx: Pick<Tx, 'all'>, host: string): string[] =>
  tx.all('VM').filter(([, vm]) => vm.resident_on === host && vm.is_control_domain !== true).map(([ref]) => ref);

export interface MembershipDeps {
  sessions: Sessions;
  credentials: HostCredentials;
  masterHost(): string;
  /** Set by `xcpnet serve`: the joining host's half. */
  joinHooks(): JoinHooks | undefined;
  clock?: () => number;
}

export function membershipImpls(d: MembershipDeps): ImplTable {
  const now = d.clock ?? Date.now;
  const join = async (ctx: CallContext, a: Record<string, Value>): Promise<void> => {
    const hooks = d.joinHooks();
    if (!hooks) throw new ApiError('NOT_IMPLEMENTED', [ctx.method]);
    await hooks.join(ctx, String(a.master_address), String(a.master_username), String(a.master_password));
  };
  return {
    'pool.join': join,
    'pool.join_force': join,
    'pool.admit_host': (ctx, a) => {
      const j = parseJoiner(a.joiner!);
      const store = ctx.services.store;
      const host = store.transact((tx) => { assertMayAdmit(tx, d.masterHost(), j); return admit(tx, j); });
      const out: Admission = { host, secret: d.credentials.issue(host) };
      return out as unknown as Value;
    },
    'pool.eject': (ctx, a) => {
      const host = String(a.host);
      if (host === d.masterHost()) throw new ApiError('OPERATION_NOT_ALLOWED', ['Cannot eject the pool master']);
      ctx.services.store.transact((tx) => {
        if (residentVms(tx, host).length) throw new ApiError('OPERATION_NOT_ALLOWED', ['VM resident on host']);
        removeHost(tx, host);
      });
      d.credentials.forget(host);
      d.sessions.endHost(host);
    },
    'host.destroy': (ctx, a) => {
      const host = String(a.self);
      const live = host === d.masterHost() || now() - d.sessions.hostLastActive(host) < HOST_LIVE_MS;
      if (live) throw new ApiError('HOST_IS_LIVE', [host]);
      ctx.services.store.transact((tx) => {
        if (residentVms(tx, host).length) throw new ApiError('HOST_HAS_RESIDENT_VMS', [host]);
        removeHost(tx, host);
      });
      d.credentials.forget(host);
      d.sessions.endHost(host);
    },
    'pool.rotate_secret': () => { d.credentials.rotate(); },
    // A member's serve, after each login: members that joined before the join carried it, or
    // whose certificate changed, become callable by pool.recover_slaves.
    'host.report_server_certificate': (ctx, a) => {
      const host = String(a.host);
      assertOwnHost(ctx, host);
      const fingerprint = String(a.fingerprint);
      if (!isCertFingerprint(fingerprint)) bad('fingerprint', fingerprint);
      ctx.services.store.transact((tx) => recordFingerprint(tx, host, fingerprint));
    },
    'host.fetch_secret': (ctx, a) => {
      assertOwnHost(ctx, String(a.host));
      return d.credentials.pending(String(a.host));
    },
  };
}

/** A host credential acts only for its own host (users' sessions are not limited here). */
export function assertOwnHost(ctx: CallContext, host: string): void {
  const own = ctx.session?.host;
  if (own !== undefined && own !== host) {
    throw new ApiError('RBAC_PERMISSION_DENIED', [ctx.method, `The pool credential of host ${own} may act only for that host, not ${host}`]);
  }
  if (own === undefined && ctx.method === 'host.fetch_secret') {
    throw new ApiError('RBAC_PERMISSION_DENIED', [ctx.method, 'Only a member\'s own pool credential may collect its secret']);
  }
  if (own === undefined && ctx.method === 'host.report_server_certificate') {
    throw new ApiError('RBAC_PERMISSION_DENIED', [ctx.method, 'Only a member\'s own pool credential may record its certificate']);
  }
}
