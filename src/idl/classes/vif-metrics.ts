// VIF_metrics: a leftover of per-VIF I/O counters; rows still exist, one per VIF.
import type { ClassDef } from '../meta.js';
import { field, otherConfig, t, uuidField } from './_helpers.js';

export const VIF_metricsClass: ClassDef = {
  name: 'VIF_metrics',
  doc: 'Per-VIF metrics (superseded by RRDs; kept readable).',
  persistent: true,
  events: true,
  writeRole: 'vm-admin',
  fields: [
    uuidField(),
    field('io_read_kbs', t.float, 'DynamicRO', 'Removed: receive rate, always 0.', { default: 0, removed: true }),
    field('io_write_kbs', t.float, 'DynamicRO', 'Removed: transmit rate, always 0.', { default: 0, removed: true }),
    field('last_updated', t.datetime, 'DynamicRO', 'When the metrics were last refreshed.', { default: '19700101T00:00:00Z' }),
    otherConfig(),
  ],
  messages: [],
};
