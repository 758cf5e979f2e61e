// VM_guest_metrics: what a guest agent tells xapi about the guest (xen-api:
// ocaml/xapi/xapi_guest_agent.ml). Here the host's agent looks inside the guests it runs and
// reports their addresses; the row is made at the first report, as xapi makes it when a guest
// agent first writes, and `networks` follows the guest.

import type { Tx } from '../../db/store.js';
import { compactNow } from '../sessions.js';
import { isRef } from './common.js';

export function setGuestNetworks(tx: Tx, vm: string, networks: Record<string, string>): void {
  const cur = tx.get('VM', vm).guest_metrics;
  if (isRef(cur) && tx.find('VM_guest_metrics', cur)) {
    const row = tx.get('VM_guest_metrics', cur);
    if (JSON.stringify(row.networks) !== JSON.stringify(networks) || row.live !== true) {
      tx.update('VM_guest_metrics', cur, { networks, live: true, last_updated: compactNow() });
    }
    return;
  }
  const ref = tx.create('VM_guest_metrics', { networks, live: true, last_updated: compactNow(), other_config: {} });
  tx.update('VM', vm, { guest_metrics: ref });
}
