// Public surface of the OVSDB backend.
export { OvsdbClient, Monitor, memberUsable, type ClientOptions, type ClusterOptions, type OpResult, type MonitorSpec } from './client.js';
export { Replica, type RowChange, type ChangeListener } from './replica.js';
export { OvsdbError, kindOfTag, type OvsdbErrorKind } from './errors.js';
export { Session, parseTarget, type SessionOptions, type Target } from './session.js';
export { JsonFramer, FramingError } from './framer.js';
export { ReconnectFsm, type ReconnectOptions, type ReconnectState } from './reconnect.js';
export * as ops from './ops.js';
export type { Op, Condition, Mutation } from './ops.js';
export {
  uuid, namedUuid, set, map, EMPTY, toDatum, toRow, encodeColumn, encodeRow, decodeColumn, decodeDatum, decodeRow,
  parseSchema, columnShape, defaultValue, applyDiff, isUuid,
  type Atom, type Datum, type PlainAtom, type PlainValue, type PlainRow, type DbSchema, type TableSchema, type ColumnType,
} from './datum.js';
export { startOvs, isRunning, ovsEnv, SYSTEM_SCHEMA, type StartOvsOptions, type OvsInstance, type OvsPids } from './instance.js';
