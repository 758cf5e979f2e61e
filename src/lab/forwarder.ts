// The lab's forwarder to its master's HTTPS: `node forwarder.js SOCKET PORT_FILE`, started by
// `lab up` in the machine's own network namespace. It listens on 127.0.0.1 (a free port, written
// to PORT_FILE once listening) and pipes each connection's bytes, unread, to the master's HTTPS
// unix socket SOCKET: TLS runs end to end between the browser and the master, which asks for a
// password as on TCP. The master listens only inside host1's namespace; a unix socket is a file,
// reachable from every namespace, so this needs no interface or route in the machine's own.
import { createServer, connect, type Socket } from 'node:net';
import { renameSync, writeFileSync } from 'node:fs';

// A browser opens a handful of connections; the master caps its own. This bounds what the
// forwarder holds (two sockets per connection) whatever connects to it.
const MAX_CONNECTIONS = 64;

function pipeTo(socketPath: string, client: Socket): void {
  const upstream = connect(socketPath);
  const end = (): void => { client.destroy(); upstream.destroy(); };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  // pipe() pauses a side whose peer is slow to read: memory stays bounded.
  client.pipe(upstream);
  upstream.pipe(client);
}

function main(argv: string[]): void {
  const [socketPath, portFile] = argv;
  if (socketPath === undefined || portFile === undefined || argv.length !== 2) {
    console.error('usage: forwarder.js SOCKET PORT_FILE');
    process.exit(2);
  }
  const server = createServer((c) => pipeTo(socketPath, c));
  server.maxConnections = MAX_CONNECTIONS;
  server.on('error', (e) => { console.error(`forwarder: ${e.message}`); process.exit(1); });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('forwarder: no TCP address');
    // Written whole or not at all: the lab reads the port as soon as the file exists.
    writeFileSync(`${portFile}.tmp`, `${addr.port}\n`, { mode: 0o600 });
    renameSync(`${portFile}.tmp`, portFile);
    console.error(`forwarder: 127.0.0.1:${addr.port} -> unix:${socketPath}`);
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
}

main(process.argv.slice(2));
