// The wire layer: codecs and the listener. No business logic, no database.
export { RpcParseError, type RpcParseCode } from './errors.js';
export type { LookupClass, RpcProtocol, RpcResult } from './types.js';
export { parseXmlRpcCall, encodeXmlRpcResponse, encodeXmlRpcValue, escapeXmlText, formatDouble } from './xmlrpc.js';
export { parseJsonRpcCall, encodeJsonRpcResponse, encodeJsonRpcParseError, type JsonRpcCall } from './jsonrpc.js';
export { startListener, type Listener, type ListenerOptions, type PageReply, type PageRequest, type RpcCall } from './listener.js';
export { normaliseDatetime, lookupClassLoose } from './shape.js';
