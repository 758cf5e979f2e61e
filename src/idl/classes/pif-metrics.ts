// PIF_metrics: link state and identification of a physical NIC or bond master.
import type { ClassDef } from '../meta.js';
import { field, otherConfig, t, uuidField } from './_helpers.js';

export const PIF_metricsClass: ClassDef = {
  name: 'PIF_metrics',
  doc: 'Link and device information of a PIF, kept up to date by the host.',
  persistent: true,
  events: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    field('io_read_kbs', t.float, 'DynamicRO', 'Removed: receive rate, always 0.', { default: 0, removed: true }),
    field('io_write_kbs', t.float, 'DynamicRO', 'Removed: transmit rate, always 0.', { default: 0, removed: true }),
    field('carrier', t.bool, 'DynamicRO', 'True when a link is detected.', { default: false }),
    field('vendor_id', t.string, 'DynamicRO', 'PCI vendor id.', { default: '' }),
    field('vendor_name', t.string, 'DynamicRO', 'PCI vendor name.', { default: '' }),
    field('device_id', t.string, 'DynamicRO', 'PCI device id.', { default: '' }),
    field('device_name', t.string, 'DynamicRO', 'PCI device name.', { default: '' }),
    field('speed', t.int, 'DynamicRO', 'Link speed in Mbit/s.', { default: 0 }),
    field('duplex', t.bool, 'DynamicRO', 'True for full duplex.', { default: false }),
    field('pci_bus_path', t.string, 'DynamicRO', 'PCI bus path, e.g. 0000:05:00.0.', { default: '' }),
    field('last_updated', t.datetime, 'DynamicRO', 'When the metrics were last refreshed.', { default: '19700101T00:00:00Z' }),
    otherConfig(),
  ],
  messages: [],
};
