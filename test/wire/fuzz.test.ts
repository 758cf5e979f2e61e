// Wire fuzz: malformed, deep, huge and slow bodies in both protocols, sent at once over many
// connections to a real master (its own process, production listener defaults), while a
// well-formed client keeps calling from another address. Asserts what "no request stalls the
// server" means: the well-formed client never waits more than 1 s for a reply (the one timed
// assertion, a liveness bound), no reply is a 5xx, every hostile body gets a short XenAPI error
// (or, when oversized, a refusal), the server's peak RSS stays bounded, and it still answers at
// the end. The corpus is generated from a fixed seed; the traffic lasts FUZZ_MS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ROOT_PASSWORD } from '../support/master.js';

const SEED = 0x5eedc0de;
const FUZZ_MS = 15_000;
const HOSTILE_WORKERS = 4;
const TRICKLERS = 4;
const CORPUS = 150;
const MAX_BODY = 300 * 1024; // the listener's default
// The issue's requirement for a concurrent well-formed client.
const LATENCY_BOUND_MS = 1000;
// Peak RSS above the idle server's. The listener bounds what requests hold at once to
// 512 connections x 16 KiB + a 32 MiB pool = 40 MiB (bodies, then their text and values, as
// estimated), plus per connection up to 16 KiB of headers and a reply; garbage not yet collected
// comes on top. Measured here: 45-60 MiB. The previous listener (16 MiB bodies, a tree-building
// XML parser) peaked near 350 MiB above idle in this run.
const RSS_BOUND_MIB = 160;

/** mulberry32: a small seeded PRNG, so the corpus is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Hostile {
  cls: string;
  path: string;
  body: Buffer;
  type?: string;
  chunked?: boolean;
  /** 'error': must get a XenAPI error (or, oversized, a refusal); 'any': a mutated valid call, any XenAPI reply. */
  expect: 'error' | 'any';
}

function makeCorpus(session: string): Hostile[] {
  const r = prng(SEED);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  // Mostly within the body limit (parsed, then refused by a limit), a quarter beyond it.
  const size = () => (r() < 0.25 ? MAX_BODY + 1 + int(2 * 1024 * 1024) : 512 + int(MAX_BODY - 1024));
  const fill = (unit: string, n: number) => unit.repeat(Math.max(1, Math.floor(n / unit.length)));
  const digits = (n: number) => (r() < 0.5 ? '-' : '') + '9'.repeat(Math.max(33, n));
  const j = (params: string, method = 'pool.get_all') => `{"jsonrpc":"2.0","id":${int(1e6)},"method":"${method}","params":[${params}]}`;
  const x = (param: string, method = 'pool.get_all') =>
    `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params><param>${param}</param></params></methodCall>`;
  const validJson = () => j(`"${session}"`, pick(['pool.get_all', 'host.get_all', 'network.get_all_records']));
  const validXml = () => x(`<value>${session}</value>`, pick(['pool.get_all', 'host.get_all', 'network.get_all_records']));
  const FORM = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain;charset=UTF-8'];

  const gens: Record<string, () => Omit<Hostile, 'cls'>> = {
    'json-deep': () => {
      const n = size() >> 1;
      return { path: '/jsonrpc', body: Buffer.from(j('['.repeat(n) + (r() < 0.5 ? ']'.repeat(n) : ''))), expect: 'error' };
    },
    'xml-deep': () => {
      const open = pick(['<value><array><data>', '<value><struct><member><name>k</name>']);
      return { path: pick(['/', '/RPC2']), body: Buffer.from(x(fill(open, size()))), expect: 'error' };
    },
    'xml-unclosed': () => {
      const tag = () => `<${pick(['a', 'value', 'methodCall', 'struct', `t${int(1000)}`])}>`;
      let s = '';
      const n = size();
      const unit = tag() + tag() + tag();
      s = fill(unit, n);
      return { path: '/', body: Buffer.from(s), expect: 'error' };
    },
    'xml-bignum': () => {
      const t = pick(['int', 'i4', 'i8', 'double']);
      return { path: '/', body: Buffer.from(x(`<value><${t}>${digits(size())}</${t}></value>`)), expect: 'error' };
    },
    'json-bignum': () => ({ path: '/jsonrpc', body: Buffer.from(j(digits(size()) + (r() < 0.5 ? '.5e7' : ''))), expect: 'error' }),
    'xml-wide': () => {
      const n = size();
      const body = r() < 0.5
        ? x(`<value><array><data>${fill('<value><i4>1</i4></value>', n)}</data></array></value>`)
        : x(`<value><struct>${Array.from({ length: Math.max(1, Math.floor(n / 48)) }, (_, i) => `<member><name>k${i}</name><value/></member>`).join('')}</struct></value>`);
      // Those under the value limit reach the handler (pool.get_all with a wrong session), which
      // answers with an error.
      return { path: '/', body: Buffer.from(body), expect: 'error' };
    },
    'json-wide': () => {
      const n = size();
      const body = r() < 0.5 ? j(`[${fill('0,', n)}0]`) : j(`{${Array.from({ length: Math.max(1, Math.floor(n / 12)) }, (_, i) => `"k${i}":0`).join(',')}}`);
      return { path: '/jsonrpc', body: Buffer.from(body), expect: 'error' };
    },
    'long-string': () => r() < 0.5
      ? { path: '/jsonrpc', body: Buffer.from(j(`"${fill(pick(['a', '\\u00e9', '\\"']), size())}"`)), expect: 'error' }
      : { path: '/', body: Buffer.from(x(`<value>${fill(pick(['a', '&amp;', '&#x10FFFF;']), size())}</value>`)), expect: 'error' },
    'garbage': () => {
      const n = size();
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return { path: pick(['/', '/jsonrpc', '/RPC2']), body: b, expect: 'error' };
    },
    'truncated': () => {
      const full = r() < 0.5
        ? j(`"${session}",{"name_label":"n","other_config":{"a":"b"},"MTU":1500},[1,2,3]`)
        : x(`<value><struct><member><name>name_label</name><value><string>n</string></value></member><member><name>MTU</name><value><int>1500</int></value></member></struct></value>`);
      return { path: full.startsWith('{') ? '/jsonrpc' : '/', body: Buffer.from(full.slice(0, 1 + int(full.length - 2))), expect: 'error' };
    },
    'content-type': () => r() < 0.5
      ? { path: '/jsonrpc', body: Buffer.from(validJson()), type: pick(FORM), expect: 'error' }
      : { path: '/', body: Buffer.from(validXml()), type: pick(FORM), expect: 'error' },
    'entities': () => ({
      path: '/',
      body: Buffer.from(pick([
        () => x(`<value>${fill('&', size())}</value>`),
        () => x(`<value>${fill('&nbsp;', size())}</value>`),
        () => `<!DOCTYPE l [<!ENTITY a "${fill('a', 1000)}"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>${x('<value>&b;</value>')}`,
      ])()),
      expect: 'error',
    }),
    'bad-utf8': () => {
      const n = size();
      const b = Buffer.from(j(`"${'u'.repeat(Math.min(n, 60_000))}"`));
      b[b.length - 5] = 0xff;
      return { path: '/jsonrpc', body: b, expect: 'error' };
    },
    'streamed': () => ({ path: pick(['/', '/jsonrpc']), body: Buffer.alloc(MAX_BODY + 1 + int(2 * 1024 * 1024), pick(['[', '<', 'x'])), chunked: true, expect: 'error' }),
    'mutated': () => {
      const b = Buffer.from(r() < 0.5 ? validJson() : validXml());
      for (let k = 1 + int(4); k > 0; k--) b[int(b.length)] = int(256);
      return { path: b[0] === 0x7b ? '/jsonrpc' : '/', body: b, expect: 'any' };
    },
  };
  const classes = Object.keys(gens);
  return Array.from({ length: CORPUS }, (_, i) => {
    const cls = classes[i % classes.length]!;
    return { cls, ...gens[cls]!() };
  });
}

interface Outcome { status?: number; body: string; error?: string; hung?: boolean }

/** One request on a fresh connection (Connection: close); everything the server sent, or how it ended. */
function sendRaw(port: number, h: Hostile, from: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    const guard = setTimeout(() => { s.destroy(); resolve({ body: '', hung: true }); }, 20_000);
    s.on('connect', () => {
      s.write(`POST ${h.path} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n${h.type ? `Content-Type: ${h.type}\r\n` : ''}` +
        `${h.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${h.body.length}`}\r\n\r\n`);
      if (!h.chunked) { s.end(h.body); return; }
      for (let off = 0; off < h.body.length; off += 65536) {
        const part = h.body.subarray(off, off + 65536);
        s.write(`${part.length.toString(16)}\r\n`);
        s.write(part);
        s.write('\r\n');
      }
      s.end('0\r\n\r\n');
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.on('close', () => {
      clearTimeout(guard);
      const raw = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      const at = raw.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : undefined, body: at >= 0 ? raw.slice(at + 4) : '', error });
    });
  });
}

/** True when `body` is a XenAPI error reply (XML-RPC Failure, or a JSON-RPC error). */
function isApiError(body: string): boolean {
  if (body.startsWith('{')) {
    const o = JSON.parse(body) as { error?: unknown };
    return o.error !== undefined && o.error !== null;
  }
  return /^<\?xml version="1.0"\?><methodResponse>.*<name>Status<\/name><value>Failure<\/value>.*<name>ErrorDescription<\/name>/s.test(body);
}

/** A well-formed call from another address on a fresh connection: its result and how long it took. */
function call(port: number, path: string, body: string): Promise<{ ms: number; status: number; body: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: '127.0.0.2', path, method: 'POST', agent: false,
      headers: { 'Content-Type': path === '/jsonrpc' ? 'application/json' : 'text/xml', Connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `${field} of ${pid}`);
  return Number(m[1]);
}

test('wire fuzz: hostile bodies from many connections never stall a well-formed client', { timeout: 120_000 }, async (t) => {
  const script = fileURLToPath(new URL('./fuzz-server.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => reject(new Error('fuzz server exited before serving')));
    });
    const { port, pid } = JSON.parse(first) as { port: number; pid: number };

    const jsonCall = (method: string, params: unknown[]) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
    const login = JSON.parse((await call(port, '/jsonrpc', jsonCall('session.login_with_password', ['root', ROOT_PASSWORD, '1.0', 'fuzz']))).body);
    const session = login.result as string;
    assert.match(session, /^OpaqueRef:/);
    const wellFormed = [
      () => call(port, '/jsonrpc', jsonCall('pool.get_all', [session])),
      () => call(port, '/', `<?xml version="1.0"?><methodCall><methodName>pool.get_all</methodName><params><param><value>${session}</value></param></params></methodCall>`),
      () => call(port, '/jsonrpc', jsonCall('network.get_all_records', [session])),
    ];
    for (const f of wellFormed) assert.equal((await f()).status, 200); // warm up before the baseline
    const corpus = makeCorpus(session);
    const baselineKiB = statusKiB(pid, 'VmRSS');

    const deadline = Date.now() + FUZZ_MS;
    const problems: string[] = [];
    const seen: Record<string, number> = {};
    let refusedOversize = 0;

    // Hostile workers: each walks the corpus from its own offset, one fresh connection per body.
    const hostile = Array.from({ length: HOSTILE_WORKERS }, async (_, w) => {
      for (let i = w * 17; Date.now() < deadline; i++) {
        const h = corpus[i % corpus.length]!;
        const o = await sendRaw(port, h, '127.0.0.1');
        seen[h.cls] = (seen[h.cls] ?? 0) + 1;
        const what = `${h.cls} #${i % corpus.length} (${h.body.length} bytes)`;
        const oversized = h.body.length > MAX_BODY;
        if (o.hung) { problems.push(`${what}: no answer in 20 s`); continue; }
        if (o.status === undefined) {
          // Only a body the server refused to read may end without a readable reply.
          if (oversized) refusedOversize++; else problems.push(`${what}: connection ended without a reply (${o.error})`);
          continue;
        }
        if (o.status >= 500) { problems.push(`${what}: HTTP ${o.status}`); continue; }
        if (h.expect === 'any') {
          if (o.status === 200 && !/^(\{|<\?xml)/.test(o.body)) problems.push(`${what}: not a XenAPI reply`);
          continue;
        }
        const expected = oversized ? 413 : h.cls === 'content-type' ? 415 : 200;
        if (o.status !== expected) problems.push(`${what}: HTTP ${o.status}, expected ${expected}`);
        else if (!isApiError(o.body)) problems.push(`${what}: not a XenAPI error: ${o.body.slice(0, 200)}`);
        else if (o.body.length > 4096) problems.push(`${what}: an error reply of ${o.body.length} bytes`);
      }
    });

    // Slow senders: bodies and headers trickled a byte every 100 ms, reopened when cut.
    const trickle = (i: number) => (async () => {
      while (Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => {
            s.write(i === 0 ? 'POST / HTTP/1.1\r\nHost: fuzz\r\nX-Slow: ' : `POST ${i % 2 ? '/jsonrpc' : '/'} HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 100000\r\n\r\n`);
          });
          const timer = setInterval(() => {
            if (Date.now() >= deadline) { s.destroy(); return; }
            s.write(i % 2 ? '[' : '<');
          }, 100);
          s.on('data', (c: Buffer) => {
            const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(c.toString('latin1'))?.[1]);
            if (status >= 500) problems.push(`trickler ${i}: HTTP ${status}`);
          });
          s.on('error', () => { /* cut off */ });
          s.on('close', () => { clearInterval(timer); resolve(); });
        });
      }
    })();
    const tricklers = Array.from({ length: TRICKLERS }, (_, i) => trickle(i));

    // A connection flood from a third address: beyond 64 connections, each is closed at once.
    let floodClosedEarly = 0;
    const flood = Promise.all(Array.from({ length: 80 }, () => new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.4' });
      const timer = setInterval(() => { if (Date.now() >= deadline) s.destroy(); }, 200);
      s.on('error', () => { /* reset */ });
      s.on('close', () => { clearInterval(timer); if (Date.now() < deadline) floodClosedEarly++; resolve(); });
    })));

    // The well-formed client: one call after another, each on a fresh connection.
    const latencies: number[] = [];
    const client = (async () => {
      for (let i = 0; Date.now() < deadline; i++) {
        try {
          const r = await wellFormed[i % wellFormed.length]!();
          latencies.push(r.ms);
          if (r.status !== 200 || isApiError(r.body)) problems.push(`well-formed call ${i}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
        } catch (e) {
          problems.push(`well-formed call ${i}: ${(e as Error).message}`);
          return;
        }
      }
    })();

    await Promise.all([client, ...hostile, ...tricklers, flood]);
    const peakKiB = statusKiB(pid, 'VmHWM');
    const max = Math.max(...latencies);
    t.diagnostic(`well-formed calls: ${latencies.length}, slowest ${max.toFixed(0)} ms; hostile: ${JSON.stringify(seen)}; ` +
      `oversized refused unread: ${refusedOversize}; flood closed early: ${floodClosedEarly}; ` +
      `RSS idle ${(baselineKiB / 1024).toFixed(0)} MiB, peak ${(peakKiB / 1024).toFixed(0)} MiB`);

    assert.deepEqual(problems, []);
    assert.ok(latencies.length >= 20, `the well-formed client made only ${latencies.length} calls`);
    assert.ok(max < LATENCY_BOUND_MS, `a well-formed call waited ${max.toFixed(0)} ms`);
    assert.ok(Object.keys(seen).length >= 15, `classes sent: ${Object.keys(seen).join(', ')}`);
    assert.ok(floodClosedEarly >= 80 - 64, `flood connections closed: ${floodClosedEarly}`);
    assert.ok(peakKiB - baselineKiB < RSS_BOUND_MIB * 1024,
      `peak RSS ${(peakKiB / 1024).toFixed(0)} MiB is more than ${RSS_BOUND_MIB} MiB above the idle ${(baselineKiB / 1024).toFixed(0)} MiB`);
    // Still serving, in both protocols.
    for (const f of wellFormed) {
      const r = await f();
      assert.equal(r.status, 200);
      assert.ok(!isApiError(r.body), r.body.slice(0, 300));
    }
    assert.equal(child.exitCode, null, 'the server is still running');
  } finally {
    child.stdin!.end();
    const code = await exited;
    assert.equal(code, 0);
  }
});
