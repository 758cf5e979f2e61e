// The help of every `xcpnet` command, declared once as data: `xcpnet --help`, `xcpnet CMD --help`,
// `xcpnet lab SUB --help` and the man page (scripts/man.mjs) are all printed from it.
import { readFileSync } from 'node:fs';

export interface CommandHelp {
  /** `serve`, or `lab up` for a subcommand. */
  name: string;
  /** Arguments after the name, as a synopsis line shows them. */
  args: string;
  summary: string;
  /** Longer explanation, one paragraph per entry. */
  details?: string[];
  options?: [flag: string, text: string][];
  examples?: string[];
}

const LAB_COMMON: [string, string][] = [
  ['--name L', 'the lab to act on (default: lab); several labs live side by side'],
  ['--state-dir DIR', 'where labs keep their state (default: $XCPNET_LAB_STATE_DIR, else $XCPNET_STATE_DIR, else ./var)'],
];

export const LAB_COMMANDS: CommandHelp[] = [
  {
    name: 'lab up', args: '[--hosts N] [--nics M] [--backend openvswitch|bridge] [--sdn mesh|ovn] [--ovn-cluster 1|3] [--standalone] [--services]',
    summary: 'build a lab pool in network namespaces, or complete one left half-built',
    details: [
      'Builds a physical switch (802.1Q trunks, native VLAN 1), an upstream router (192.0.2.1, VLAN 10 198.51.100.1, VLAN 20 203.0.113.1), N hosts with M NICs each cabled to the switch, a pool master and one agent per host. Defaults: 2 hosts, 4 NICs, Open vSwitch.',
      'A lab that is up is left as it is; asking it for another size or backend is an error (lab down first). Interrupted (Ctrl-C), it says what it left: running lab up again completes it, lab down removes it.',
    ],
    options: [['--hosts N', 'number of hosts (host1 is the master\'s own host)'], ['--nics M', 'NICs per host, eth0 … eth(M-1)'],
      ['--backend B', 'openvswitch (default) or bridge (the Linux bridge, as XCP\'s bridge backend)'],
      ['--sdn S', 'what carries cross-server private networks: mesh (xcpnet\'s tunnel mesh, default) or ovn'],
      ['--ovn-cluster N', 'with --sdn ovn: 3 runs OVN\'s databases as a RAFT cluster on host1-3 (pool other-config:xcpnet-ovn-cluster); 1, standalone on the master (default)'],
      ['--standalone', 'host2… stay standalone, each a pool of one (lab join HOST joins one)'],
      ['--services', 'host2… run as installed hosts (xcpnet install-services): serve --no-agent and the agent apart, with the units\' commands; the agent follows joins and ejects'], ...LAB_COMMON],
    examples: ['xcpnet lab up --hosts 3', 'eval "$(./bin/xcpnet lab env)"'],
  },
  {
    name: 'lab join', args: 'HOST', summary: 'join a standalone lab host to host1\'s pool: the real xe pool-join run on HOST against its own local socket, over TLS',
    options: LAB_COMMON,
  },
  { name: 'lab eject', args: 'HOST', summary: 'xe pool-eject on the master: HOST leaves the pool and is standalone again with its management interface', options: LAB_COMMON },
  { name: 'lab down', args: '', summary: 'remove everything the lab made (namespaces, cables, processes, files), and nothing else', options: LAB_COMMON },
  {
    name: 'lab status', args: '[--json]', summary: 'hosts, NICs and cables, switch ports, the master, and the running guests with their VIFs, bridges and networks',
    options: [['--json', 'the same as JSON'], ...LAB_COMMON],
  },
  {
    name: 'lab env', args: '', summary: 'shell lines that point xe and xcpnet at the lab\'s master',
    details: ['Use it as eval "$(./bin/xcpnet lab env)" from the checkout (or with the path of bin/xcpnet): it puts bin/ on PATH, so xe and xcpnet work afterwards. The password is read from its 0600 file when the line runs; it is never printed.'],
    options: LAB_COMMON,
  },
  {
    name: 'lab add-nic', args: 'HOST', summary: 'hot-add the next ethN to HOST, cabled to the switch',
    details: ['The new NIC has no PIF until the pool looks for it: xe pif-scan host-uuid=… (the command prints it).'], options: LAB_COMMON,
  },
  {
    name: 'lab cable', args: 'HOST ethN up|down', summary: 'plug in or pull a NIC\'s cable (the switch end goes up or down)',
    details: ['A bond member plugged in again carries traffic only after the bond\'s updelay (31 s by default, as XCP sets it): the command says so.'],
    options: LAB_COMMON,
  },
  { name: 'lab exec', args: 'VM|HOST -- CMD …', summary: 'run CMD in a running guest (by name-label or uuid), or in a host with ovs-vsctl/ovs-appctl pointed at its own Open vSwitch', options: LAB_COMMON,
    examples: ['xcpnet lab exec vm1 -- ping -c 3 10.99.0.2', 'xcpnet lab exec host1 -- ovs-vsctl show'] },
  { name: 'lab restart-agent', args: 'HOST', summary: 'SIGKILL the host\'s agent and start it again (it must pick up without disturbing a flow)', options: LAB_COMMON },
  { name: 'lab restart-master', args: '[--outage S]', summary: 'SIGKILL the pool master and start it again, after S seconds', options: [['--outage S', 'seconds the master stays down (0..3600)'], ...LAB_COMMON] },
  {
    name: 'lab graph', args: '[--format text|dot|mermaid]', summary: 'the lab\'s topology: switch, cables, hosts, NICs, bonds, bridges and networks, VLANs, tunnels, VIFs and VMs',
    details: ['text is a tree for the terminal; dot is for Graphviz (dot -Tsvg); mermaid is for Markdown renderers that draw Mermaid.'],
    options: [['--format F', 'text (default), dot or mermaid'], ...LAB_COMMON],
  },
];

const MASTER_CONNECTION: [string, string][] = [
  ['--state-dir DIR', 'the master\'s state directory, whose xapi.sock is used (default: $XCPNET_STATE_DIR, else ./var; eval "$(./bin/xcpnet lab env)" sets it for a lab)'],
];

export const XCPNET_COMMANDS: CommandHelp[] = [
  {
    name: 'serve', args: '[--listen HOST:PORT|none] [--http|--insecure-http] [--state-dir DIR] [--run-dir DIR] [--root-password-file FILE|-] [--fake-nics N] [--no-agent]',
    summary: 'run the pool master: the XenAPI server, its database, rules and event stream',
    details: [
      'XenAPI over HTTPS (a self-signed certificate is made at first start in <state-dir>/server.pem, its key in server.key) and over <run-dir>/xapi.sock (local root, trusted without a password).',
      'Its own host\'s agent: simulated (--fake-nics), or the real one with --manage-nics (this machine\'s NICs) or --netns (a lab host\'s namespace), on the backend network.conf names.',
      'root\'s password: the file\'s first line, else $XCPNET_ROOT_PASSWORD, else generated at first start (shown once on a terminal, else written to <state-dir>/root-password). After xe pool-join it is a pool member: it runs only its agent against the master.',
    ],
    options: [
      ['--listen HOST:PORT', 'where to serve (default 0.0.0.0:443); none: only the unix socket'],
      ['--http', 'plain HTTP instead of HTTPS, on a loopback address only'],
      ['--insecure-http', 'plain HTTP on any address (passwords cross the network in clear)'],
      ['--state-dir DIR', 'database, certificate and keys (default: $XCPNET_STATE_DIR, else ./var)'],
      ['--run-dir DIR', 'where xapi.sock is made (default: $XCPNET_RUN_DIR, else the state directory)'],
      ['--https-socket PATH', 'also serve HTTPS on this unix socket (0600), as on TCP: password logins, the topology view (the lab forwards 127.0.0.1 to it)'],
      ['--root-password-file FILE', 'root\'s password from the file\'s first line (- reads standard input)'],
      ['--fake-nics N', 'NICs of the simulated local host (default 4)'],
      ['--manage-nics', 'run the real agent for this machine\'s own NICs instead of a simulated host'],
      ['--netns NAME', 'run the real agent for a lab host\'s namespace'],
      ['--ovsdb unix:PATH', 'with --netns: the host\'s Open vSwitch database'],
      ['--network-conf PATH', 'the backend choice of the real agent (default <state-dir>/network.conf)'],
      ['--no-agent', 'run no agent for the local host (one runs apart: xcpnet agent)'],
      ['--agent-credential-file FILE', 'with --no-agent: where to write the credential of this host\'s own agent'],
      ['--host-name NAME', 'the local host\'s name and a name in its certificate'],
      ['--master-ca-file FILE', 'trust for the master of a pool this host joins: its certificate or CA'],
      ['--master-fingerprint SHA256', 'or its pinned certificate fingerprint'],
      ['--ovn-sb-listen IP:PORT', 'where hosts elsewhere reach the OVN southbound database of an OVN pool (pool other-config:xcpnet-sdn=ovn), over TLS with the pool\'s OVN CA; without it, its unix socket in <state-dir>/ovn'],
      ['--lab-wiring FILE', 'a lab\'s switch, cables and upstream, shown by the topology view (xcpnet lab sets it)'],
    ],
    examples: ['The topology view: https://HOST:PORT/topology/ (log in with a XenAPI user; read-only is enough)'],
  },
  { name: 'cert-fingerprint', args: '[--state-dir DIR]', summary: 'print the SHA-256 fingerprint of the master\'s TLS certificate (what clients pin)', options: [['--state-dir DIR', 'the master\'s state directory']] },
  {
    name: 'agent', args: '--master URL|SOCKET --host UUID --credential-file FILE [--ca-file FILE | --fingerprint SHA256] [--network-conf PATH] [--ovsdb unix:PATH] [--netns NAME] [--manage-nics] [--state-dir DIR] [--hotplug-socket PATH] [--membership FILE]',
    summary: 'run the host agent that makes the records real (Open vSwitch or the Linux bridge, as network.conf says)',
    details: ['It logs in with its host credential (FILE: {"host": REF, "secret": …}, or $XCPNET_HOST_CREDENTIAL), never a password. An https master\'s certificate is checked against --ca-file or --fingerprint (also $XE_CA_FILE, $XE_FINGERPRINT).',
      'With --membership it follows the host\'s pool membership as the host\'s xcpnet serve keeps it: while FILE (serve\'s <state-dir>/pool-member.json, written at xe pool-join) exists, it talks to the master FILE names, with the host credential and certificate trust recorded there; without it, to --master. It reads FILE again when FILE changes and when a call fails, and starts over with another master by itself (the installed xcpnet-agent.service runs so).'],
    options: [
      ['--master URL|SOCKET', 'the pool master: https://…, http://… or the path of its unix socket'],
      ['--host UUID', 'the host this agent realises'],
      ['--credential-file FILE', 'the host credential'],
      ['--ca-file FILE', 'trust the master\'s certificate or CA'], ['--fingerprint SHA256', 'or pin its fingerprint'],
      ['--network-conf PATH', 'the backend choice (default <state-dir>/network.conf)'],
      ['--ovsdb unix:PATH', 'the Open vSwitch database to use'], ['--netns NAME', 'the network namespace of the host (the lab)'],
      ['--manage-nics', 'allow it to touch this machine\'s NICs (off: nothing outside what it made)'],
      ['--state-dir DIR', 'where it keeps its copy of the last realised configuration, its DHCP leases, NIC order and local XenAPI socket'],
      ['--hotplug-socket PATH', 'where vif-hotplug reaches it (default <state-dir>/agent/vif-hotplug.sock; docs/guests.md)'],
      ['--membership FILE', 'follow the pool membership in FILE (the host\'s serve\'s pool-member.json) instead of always --master'],
    ],
  },
  {
    name: 'vif-hotplug', args: 'online|offline|add|remove | qemu-ifup|qemu-ifdown DEV | libvirt NAME OP SUBOP | stopped VM | add DEV [vif-uuid=U] [vm=VM device=N] [mac=M] [domid=D] | remove DEV [--socket PATH]',
    summary: 'attach or detach a guest device a hypervisor made, through the host\'s agent',
    details: ['Usable as Xen\'s vif script (environment: vif, XENBUS_PATH), as QEMU\'s script=/downscript= (the tap as its argument), as libvirt\'s qemu hook (domain XML on standard input), or by hand. A device for no known VIF is refused and shown on the host, never bridged (docs/guests.md).'],
    options: [['--socket PATH', 'the agent\'s hotplug socket (default <state-dir>/agent/vif-hotplug.sock)']],
  },
  {
    name: 'reset-networking', args: '--device NIC --mode dhcp|static [--ip A --netmask M [--gateway G]] [--dns A,B] (--host UUID | --state-dir DIR)',
    summary: 'bring a host back to a management interface on NIC, through its running agent (as xe-reset-networking)',
  },
  { name: 'switch-network-backend', args: 'bridge|openvswitch [--network-conf PATH] [--state-dir DIR]', summary: 'choose the host\'s network backend (as xe-switch-network-backend); restart the agent after' },
  { name: 'lab', args: '<command> [--name L] [--state-dir DIR]', summary: 'build and drive a whole pool in network namespaces, with real packets (xcpnet lab --help lists its commands)' },
  {
    name: 'bridges', args: '[--host H] [--name L]',
    summary: 'each host\'s bridges as brctl show prints them, each labelled: its network, VLAN tag and parent, bond mode and active member, tunnel remotes and keys, and the VM and device behind each vifN.M',
    options: [['--host H', 'only host H (name-label, uuid or ref)'], ['--name L', 'the master of lab L'], ...MASTER_CONNECTION],
  },
  {
    name: 'explain', args: 'A B [--name L] [--json]',
    summary: 'whether A can reach B at layer 2 and, if not, every reason found, each with the command that fixes it',
    details: ['A and B are VMs (name-label or uuid) or VIFs (uuid). It reads the records and what each host really has (in a lab: its Open vSwitch, its NICs\' carrier, the switch ports, the guests\' interfaces). Exit status 0 when A reaches B, 1 when not.'],
    options: [['--name L', 'the master of lab L (default: $XCPNET_LAB, set by lab env)'], ['--json', 'the answer as JSON: reachable, and the reasons with code, object, message and fix'], ...MASTER_CONNECTION],
    examples: ['xcpnet explain vm1 vm2'],
  },
  {
    name: 'trace', args: 'A B [--name L]',
    summary: 'follow one frame from VM A to VM B hop by hop through bridges, bonds, tunnels and the lab switch (ovs-appctl ofproto/trace), with names instead of port numbers',
    options: [['--name L', 'the lab whose hosts to trace in (default: lab)'], ['--state-dir DIR', 'where labs keep their state']],
  },
  {
    name: 'install-services', args: '[--root DIR] [--master URL] [--host UUID]',
    summary: 'install systemd units for the master and the agent (xcpnet-master, xcpnet-agent) running this copy',
    details: ['Settings in /etc/xcpnet, state in /var/lib/xcpnet, the socket in /run/xcpnet. The same two units on every host of a pool: the agent follows the host\'s membership by itself (xe pool-join, xe pool-eject).'],
    options: [['--root DIR', 'write under DIR (an image being built) and leave systemd alone'], ['--master URL', 'the agent\'s master'], ['--host UUID', 'the agent\'s host']],
  },
  { name: 'remove-services', args: '[--root DIR]', summary: 'stop, disable and remove those units (settings and state are kept)', options: [['--root DIR', 'as for install-services']] },
  {
    name: 'user-add', args: 'NAME ROLE [--password-file FILE|-] [--state-dir DIR]',
    summary: 'create or replace a local user (roles: read-only, vm-operator, vm-admin, vm-power-admin, pool-operator, pool-admin)',
    details: ['The password is the file\'s first line (- reads standard input), else $XCPNET_PASSWORD; never the command line, where ps shows it.'],
  },
];

export function findHelp(name: string): CommandHelp | undefined {
  return [...XCPNET_COMMANDS, ...LAB_COMMANDS].find((c) => c.name === name);
}

/** True when the arguments ask for help (before any `--`, after which they belong to another command). */
export function asksHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The version in package.json, next to the built code (dist/src/bin → the checkout). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function wrap(text: string, indent: string, width = 100): string {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) { out.push(indent + line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(indent + line);
  return out.join('\n');
}

function listing(commands: CommandHelp[], prefix: string): string {
  return commands.map((c) => `  ${c.name.slice(prefix.length)}${c.args ? ` ${c.args}` : ''}\n${wrap(c.summary, '        ')}`).join('\n');
}

export function overview(): string {
  return `usage: xcpnet <command> [options]     (xcpnet <command> --help for one command; xcpnet --version)\n\ncommands:\n${listing(XCPNET_COMMANDS, '')}\n`;
}

export function labOverview(): string {
  return `usage: xcpnet lab <command> [--name L] [--state-dir DIR]     (xcpnet lab <command> --help for one)\n\ncommands:\n${listing(LAB_COMMANDS, 'lab ')}\n`;
}

export function commandHelp(c: CommandHelp): string {
  const out = [`usage: xcpnet ${c.name}${c.args ? ` ${c.args}` : ''}`, '', wrap(c.summary, '')];
  for (const d of c.details ?? []) out.push('', wrap(d, ''));
  if (c.options?.length) {
    out.push('', 'options:');
    const w = Math.max(...c.options.map(([f]) => f.length));
    for (const [f, t] of c.options) out.push(`  ${f.padEnd(w)}  ${t}`);
  }
  if (c.examples?.length) out.push('', 'examples:', ...c.examples.map((e) => `  ${e}`));
  return `${out.join('\n')}\n`;
}
