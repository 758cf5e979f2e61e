// First start and every start: the pool, the master host, its control domain and the
// host-internal management network exist (xen-api: ocaml/xapi/create_networks.ml).

import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Tx } from '../db/store.js';
import { NULL_REF, type Rec } from '../idl/meta.js';
import type { XapiServer } from './server.js';
import { ensureHostMetrics } from './impl/host-metrics.js';

export const API_VERSION = { major: 2, minor: 23 };
export const XCPNET_VERSION = '0.1.0';
/** The xapi release whose API this server follows (v26.17), for software_version.xapi. */
export const XAPI_COMPAT_VERSION = '26.17';

export const HIMN_OTHER_CONFIG: Rec = {
  is_guest_installer_network: 'true', is_host_internal_management_network: 'true',
  ip_begin: '169.254.0.1', ip_end: '169.254.255.254', netmask: '255.255.0.0',
};

/** Creates a host record with its control domain; used at first start and when hosts join. */
export function createHost(tx: Tx, nameLabel: string, address: string, hostname = nameLabel, uuid?: string): string {
  const host = tx.create('host', {
    ...(uuid ? { uuid } : {}), name_label: nameLabel, name_description: '', hostname, address, enabled: true,
    API_version_major: API_VERSION.major, API_version_minor: API_VERSION.minor,
    API_version_vendor: 'XenSource', API_version_vendor_implementation: {},
    software_version: {
      product_version: XCPNET_VERSION, product_brand: 'xcpnet', platform_name: 'xcpnet', platform_version: XCPNET_VERSION,
      xapi: XAPI_COMPAT_VERSION, hostname, network_backend: 'openvswitch',
    },
    other_config: {}, management_bridge: '', management_address_type: 'ipv4',
  });
  const dom0 = tx.create('VM', {
    name_label: `Control domain on host: ${nameLabel}`, name_description: 'The domain which manages physical devices and manages other domains',
    power_state: 'Running', is_control_domain: true, is_a_template: false, domid: 0, resident_on: host,
    other_config: { mac_seed: randomUUID() }, metrics: tx.create('VM_metrics', {}),
  });
  tx.update('host', host, { control_domain: dom0 });
  ensureHostMetrics(tx, host);
  ensureHimn(tx);
  return host;
}

export function ensureHimn(tx: Tx): string {
  for (const [ref, net] of tx.all('network')) {
    if ((net.other_config as Rec).is_host_internal_management_network === 'true') return ref;
  }
  return tx.create('network', {
    name_label: 'Host internal management network', name_description: 'Network on which guests will be assigned a private link-local IP address which can be used to talk XenAPI',
    bridge: 'xenapi', MTU: 1500, other_config: HIMN_OTHER_CONFIG, managed: true,
  });
}

/** Makes sure the pool exists; returns the master host's ref. */
export function bootPool(server: XapiServer, opts: { hostName?: string; address?: string } = {}): string {
  return server.store.transact((tx) => {
    const existing = tx.all('pool')[0];
    if (existing) {
      ensureHimn(tx);
      return existing[1].master;
    }
    const name = opts.hostName ?? osHostname();
    const host = createHost(tx, name, opts.address ?? '127.0.0.1', name);
    tx.create('pool', { name_label: '', name_description: '', master: host, default_SR: NULL_REF, other_config: {} });
    return host;
  });
}
