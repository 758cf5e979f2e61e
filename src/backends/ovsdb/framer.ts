// Splits an OVSDB byte stream into JSON values.
//
// RFC 7047 peers write JSON-RPC objects back to back with no length prefix and no
// delimiter, and a read may end anywhere: inside a string, inside an escape, inside a
// multi-byte UTF-8 sequence. We scan bytes (all structural characters are ASCII, and in
// UTF-8 no byte of a multi-byte sequence is < 0x80, so a byte scan cannot be fooled by
// non-ASCII text) and decode a value only once it is complete, which keeps UTF-8 intact
// across chunk boundaries.

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

export interface FramerOptions {
  /** Largest single value accepted, in bytes; a peer sending more is broken or hostile. */
  maxValueBytes?: number;
}

export class JsonFramer {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private readonly maxValueBytes: number;

  constructor(opts: FramerOptions = {}) {
    this.maxValueBytes = opts.maxValueBytes ?? 64 * 1024 * 1024;
  }

  /** True when bytes of an incomplete value are buffered. */
  get pending(): boolean {
    return this.depth > 0 || this.partsBytes > 0;
  }

  /** Feeds a chunk; returns every value completed by it, in order. Throws FramingError. */
  push(chunk: Buffer | string): unknown[] {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const out: unknown[] = [];
    let start = -1; // start of the current value within buf, if it began in this chunk
    if (this.depth > 0) start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i]!;
      if (this.depth === 0) {
        // Between values: only whitespace and the start of an object or array are allowed.
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
          this.reset();
          throw new FramingError(`unexpected byte 0x${c.toString(16)} between JSON values`);
        }
        this.depth = 1;
        start = i;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (c === QUOTE) this.inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          const piece = buf.subarray(start, i + 1);
          const text = this.partsBytes > 0
            ? Buffer.concat([...this.parts, piece]).toString('utf8')
            : piece.toString('utf8');
          this.parts = [];
          this.partsBytes = 0;
          start = -1;
          try {
            out.push(JSON.parse(text));
          } catch (e) {
            this.reset();
            throw new FramingError(`malformed JSON value: ${(e as Error).message}`);
          }
        }
      }
    }
    if (this.depth > 0 && start >= 0) {
      // Copy: the caller's buffer may be reused by the stream.
      const rest = Buffer.from(buf.subarray(start));
      this.parts.push(rest);
      this.partsBytes += rest.length;
      if (this.partsBytes > this.maxValueBytes) {
        this.reset();
        throw new FramingError(`JSON value larger than ${this.maxValueBytes} bytes`);
      }
    }
    return out;
  }

  /** Drops any partial value (after a reconnect, say). */
  reset(): void {
    this.parts = [];
    this.partsBytes = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }
}
