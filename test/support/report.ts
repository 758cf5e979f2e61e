// Whole protocol values for tests that report in an agent's place: the master takes only
// complete reports (src/protocol/host-agent.ts), so a test states the fields it cares about.
import { emptyReport, type HostReport, type Nic } from '../../src/protocol/host-agent.js';

/** A report from a simulated host: every member empty unless given. */
export const report = (r: Partial<HostReport> = {}): HostReport => ({ ...emptyReport('fake'), ...r });

/** A NIC with the given identity and plain facts (carrier, 1 Gbit/s full duplex) unless given. */
export const nic = (n: Pick<Nic, 'device' | 'MAC' | 'MTU'> & Partial<Nic>): Nic => ({
  carrier: true, speed: 1000, duplex: 'full', vendor_id: '', vendor_name: '', device_id: '', device_name: '', pci_bus_path: '', driver: '', ...n,
});
