// The npm `xen-api` client ships no types; this declares the part the wire tests use.
declare module 'xen-api' {
  interface XapiObject { $ref: string; $type: string; $id: string; uuid: string; [field: string]: any }
  interface Xapi {
    status: string;
    pool: XapiObject;
    objects: { all: Record<string, XapiObject>; indexes: { type: Record<string, Record<string, XapiObject>> } };
    objectsFetched: Promise<void>;
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    call<T = any>(method: string, ...args: unknown[]): Promise<T>;
    callAsync<T = any>(method: string, ...args: unknown[]): Promise<T>;
    barrier(ref?: string): Promise<XapiObject>;
    getObject(idOrRef: string, def?: unknown): XapiObject;
    getObjectByRef(ref: string, def?: unknown): XapiObject;
  }
  export function createClient(opts: Record<string, unknown>): Xapi;
}
