// host_metrics: made with each host (xapi makes one per host); `live` follows the host's agent:
// true from its first report, false once no report (the agent sends one at least every
// AGENT_HEARTBEAT_MS) has come for HOST_LIVE_TIMEOUT_MS. Memory figures are not measured here.

import type { Tx } from '../../db/store.js';
import { compactNow } from '../sessions.js';
import { isRef } from './common.js';

/** The host's host_metrics row, made when it has none (a host from an older database). */
export function ensureHostMetrics(tx: Tx, host: string): string {
  const cur = tx.get('host', host).metrics;
  if (isRef(cur) && tx.find('host_metrics', cur)) return cur;
  const ref = tx.create('host_metrics', { memory_total: 0, memory_free: 0, live: false, last_updated: compactNow(), other_config: {} });
  tx.update('host', host, { metrics: ref });
  return ref;
}

/** Writes host_metrics.live (and last_updated) when it changes. */
export function setHostLive(tx: Tx, host: string, live: boolean): void {
  if (!tx.find('host', host)) return;
  const ref = ensureHostMetrics(tx, host);
  if (tx.get('host_metrics', ref).live !== live) tx.update('host_metrics', ref, { live, last_updated: compactNow() });
}

export function destroyHostMetrics(tx: Tx, host: string): void {
  const ref = tx.get('host', host).metrics;
  if (isRef(ref) && tx.find('host_metrics', ref)) tx.destroy('host_metrics', ref);
}
