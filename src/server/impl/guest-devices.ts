// What a host's hypervisor says about its guests (the agent's report, `guests`): VIFs whose
// device it made are attached and their VMs Running there, with the hypervisor's domid; VMs
// it stopped are halted; devices for no VIF are shown on the host. See docs/guests.md.
import type { Tx } from '../../db/store.js';
import type { Rec, Value } from '../../idl/meta.js';
import type { GuestsReport } from '../../protocol/host-agent.js';
import { refreshAllowedOps } from './vif.js';
import { halt, nextDomid, updateVm } from './vm.js';

/** host.other_config key listing the devices of the host's hypervisor that match no VIF. */
export const UNKNOWN_DEVICES_KEY = 'xcpnet-unknown-guest-devices';

export function applyGuestsReport(tx: Tx, host: string, g: GuestsReport): void {
  for (const [vifRef, dev] of Object.entries(g.attached)) {
    if (tx.classOf(vifRef) !== 'VIF') continue;
    const vif = tx.get('VIF', vifRef);
    const vmRef = String(vif.VM);
    const vm = tx.find('VM', vmRef);
    if (!vm || vm.is_control_domain === true || vm.is_a_template === true) continue;
    if (vm.power_state !== 'Running' || vm.resident_on !== host) {
      // The domain runs here now (started, or arrived by migration): as the hypervisor says.
      updateVm(tx, vmRef, { power_state: 'Running', resident_on: host, domid: dev.domid >= 0 ? dev.domid : nextDomid(tx, host) });
    } else if (dev.domid >= 0 && vm.domid !== dev.domid) {
      updateVm(tx, vmRef, { domid: dev.domid });
    }
    if (vif.currently_attached !== true) {
      tx.update('VIF', vifRef, { currently_attached: true });
      refreshAllowedOps(tx, vifRef);
    }
  }
  for (const vmRef of g.stopped) {
    if (tx.classOf(vmRef) !== 'VM') continue;
    const vm = tx.get('VM', vmRef);
    if (vm.resident_on === host && vm.power_state !== 'Halted') halt(tx, vmRef);
  }
  const h = tx.find('host', host);
  if (!h) return;
  const oc = { ...((h.other_config ?? {}) as Record<string, Value>) };
  const shown = [...new Set(g.unknown)].sort().join(',');
  if ((oc[UNKNOWN_DEVICES_KEY] ?? '') === shown) return;
  if (shown === '') delete oc[UNKNOWN_DEVICES_KEY];
  else oc[UNKNOWN_DEVICES_KEY] = shown;
  tx.update('host', host, { other_config: oc as Rec });
}
