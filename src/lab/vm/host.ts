// A VM host in a lab: a QEMU VM (launch.ts) whose virtio NICs are taps on the lab switch,
// running Open vSwitch on the kernel datapath and the xcpnet agent, against a pool master
// that runs in the lab's upstream namespace and listens on the management subnet there.
// Nothing here touches the machine's own network: the taps live in the switch namespace,
// the master listens only inside the upstream namespace.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { XapiClient } from '../../client/index.js';
import { assertIfName, switchPortColumns, switchNs, SUBNETS, SWITCH_BRIDGE, type SwitchPort } from '../plan.js';
import { setSwitchEnd } from '../topology.js';
import { XCPNET_JS, admitLabHost } from '../pool.js';
import { CERT_FILE, fingerprintOf } from '../../server/certificate.js';
import { findLink } from '../netns.js';
import { vsctl } from '../ovs.js';
import { ip } from '../sh.js';
import { isRecordedAlive, procRecord, saveState, type LabState, type ProcRecord } from '../state.js';
import { startVm, type LabVm } from './launch.js';
import type { QemuNic } from './qemu.js';

export interface VmMaster {
  /** https://<address>:<port>, reachable from the lab's management subnet only. */
  url: string;
  /** Its state directory (its TLS certificate is there). */
  dir: string;
  /** Its unix socket (the lab's own calls go there). */
  socket: string;
  username: string;
  password: string;
  proc: ProcRecord;
  client(): Promise<XapiClient>;
}

export interface VmNic extends QemuNic {
  /** The guest's name for it (eth0…, in PCI order). */
  device: string;
}

export interface VmHost {
  vm: LabVm;
  name: string;
  /** The host record's uuid on the master. */
  uuid: string;
  /** The address the guest's eth0 holds as its distribution would leave it. */
  mgmtIp: string;
  nics: VmNic[];
  /** Plugs or pulls the cable of a NIC (eth1…): the guest loses or regains carrier. */
  setCable(device: string, up: boolean): Promise<void>;
  /** The agent's log inside the guest. */
  agentLog(): Promise<string>;
  stop(): Promise<void>;
}

export interface VmHostOptions {
  /** VM number (default 1): the guest is `vm<index>`, its taps `<prefix>q<index>e<n>`. */
  index?: number;
  nics?: number;
  /** Address of eth0 on the management subnet (default 192.0.2.(50 + index)). */
  mgmtIp?: string;
  memoryMb?: number;
  cpus?: number;
  progress?: (line: string) => void;
}

const GUEST_OVS = '/run/openvswitch';
const GUEST_AGENT_LOG = '/run/xcpnet/agent.log';
/** Modules the VM tier exercises; the kernel loads further ones (e.g. for tunnels) on demand. */
export const VM_MODULES = ['virtio_net', 'virtio_console', 'openvswitch', '8021q', 'bonding'];

const record = (state: LabState, p: ProcRecord): void => {
  state.processes.push(p);
  saveState(state);
};

function tail(file: string, n = 15): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-n).join('\n') : '';
}

/**
 * A pool master for VM hosts, run inside the lab's upstream namespace and listening on the
 * upstream's management address (the VM's agent reaches it through the lab switch). Its
 * state lives in <lab>/vm-master; its process is recorded for `lab down`.
 */
export async function startVmMaster(state: LabState, progress: (l: string) => void = () => undefined): Promise<VmMaster> {
  const ns = `${state.prefix}up`;
  const dir = join(state.dir, 'vm-master');
  mkdirSync(dir, { recursive: true });
  const password = randomBytes(9).toString('base64url');
  const log = join(dir, 'serve.log');
  const fd = openSync(log, 'a');
  let pid: number | undefined;
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, XCPNET_JS, 'serve', '--state-dir', dir,
      '--listen', `${SUBNETS.mgmt.gateway}:0`, '--no-agent', '--host-name', 'vmmaster'],
    { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, XCPNET_ROOT_PASSWORD: password } });
    child.on('error', () => undefined);
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error('cannot start the VM master');
  writeFileSync(join(dir, 'serve.pid'), `${pid}\n`);
  const proc = procRecord(pid, 'vm-master xcpnet-serve', ns);
  record(state, proc);
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    if (!isRecordedAlive(proc)) throw new Error(`the VM master exited; see ${log}:\n${tail(log)}`);
    if (Date.now() > deadline) throw new Error(`the VM master did not listen within 30 s; see ${log}:\n${tail(log)}`);
    url = /serving XenAPI on (https:\/\/[0-9.]+:\d+)/.exec(readFileSync(log, 'utf8'))?.[1];
    if (!url) await sleep(100);
  }
  const socket = join(dir, 'xapi.sock');
  const client = () => XapiClient.connect({ target: `unix:${socket}`, user: 'root', password, originator: 'xcpnet-lab-vm' });
  progress(`vm master: xcpnet serve (pid ${pid}) in ${ns} at ${url}`);
  return { url, dir, socket, username: 'root', password, proc, client };
}

/** The VM's NICs: a tap per NIC in the switch namespace, a port of the lab switch like a host's NIC. */
export function vmNics(prefix: string, index: number, count: number): VmNic[] {
  const out: VmNic[] = [];
  for (let n = 0; n < count; n++) {
    const tap = `${prefix}q${index}e${n}`;
    assertIfName(tap);
    out.push({ device: `eth${n}`, id: `n${n}`, tap, mac: `52:54:00:7a:${hex(index)}:${hex(n)}` });
  }
  return out;
}

const hex = (n: number): string => {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`out of range for a MAC byte: ${n}`);
  return n.toString(16).padStart(2, '0');
};

/** Creates the taps (persistent, so the switch holds its ports while QEMU restarts) and cables them. */
async function cableTaps(state: LabState, nics: VmNic[]): Promise<void> {
  const sw = switchNs(state.prefix);
  const sock = state.switch?.ovs?.dbSocket;
  if (!sock) throw new Error(`lab ${state.name} has no switch`);
  for (const n of nics) {
    if (!(await findLink(sw, n.tap))) await ip(sw, ['tuntap', 'add', 'dev', n.tap, 'mode', 'tap']);
    const port: SwitchPort = { port: n.tap, peerNs: '', peerDevice: n.device, vlanMode: 'native-untagged', tag: 1 };
    await vsctl(sock, ['--may-exist', 'add-port', SWITCH_BRIDGE, n.tap, '--', 'set', 'port', n.tap, ...switchPortColumns(port)]);
    await ip(sw, ['link', 'set', n.tap, 'mtu', '9216', 'up']);
  }
}

/**
 * Boots `vm<index>` on the lab switch, starts Open vSwitch (kernel datapath) and the xcpnet
 * agent in it, registered with `master` as host `vm<index>`. The guest's eth0 holds `mgmtIp`
 * from boot, as a distribution's network configuration would leave it.
 */
export async function startVmHost(state: LabState, master: VmMaster, o: VmHostOptions = {}): Promise<VmHost> {
  const progress = o.progress ?? (() => undefined);
  const index = o.index ?? 1;
  const name = `vm${index}`;
  const mgmtIp = o.mgmtIp ?? `192.0.2.${50 + index}`;
  if (!/^192\.0\.2\.\d{1,3}$/.test(mgmtIp)) throw new Error(`a VM host's address must be on the lab's management subnet ${SUBNETS.mgmt.cidr}: ${mgmtIp}`);
  const nics = vmNics(state.prefix, index, o.nics ?? 4);
  await cableTaps(state, nics);
  const vm = await startVm({
    name, prefix: state.prefix, dir: join(state.dir, 'vm', name), netns: `${state.prefix}sw`, nics,
    memoryMb: o.memoryMb, cpus: o.cpus, modules: VM_MODULES,
    setup: `ip link set eth0 up && ip addr add ${mgmtIp}/${SUBNETS.mgmt.prefixLen} dev eth0`,
    onStarted: (p) => record(state, p),
  });
  progress(`${name}: booted in ${(vm.bootMs / 1000).toFixed(1)} s (QEMU pid ${vm.proc.pid})`);
  try {
    await startGuestOvs(vm);
    const c = await master.client();
    let uuid: string;
    const credential = join(state.dir, 'vm', name, 'agent.credential');
    try {
      uuid = await admitLabHost(c, name, mgmtIp, credential);
    } finally {
      await c.close();
    }
    await vm.run(['mkdir', '-p', '/run/xcpnet']);
    // Over TLS, trusting the master's own certificate by its fingerprint.
    const fingerprint = fingerprintOf(readFileSync(join(master.dir, CERT_FILE), 'utf8'));
    await vm.spawn([process.execPath, XCPNET_JS, 'agent', '--master', master.url, '--fingerprint', fingerprint, '--host', uuid,
      '--ovsdb', `unix:${GUEST_OVS}/db.sock`, '--manage-nics', '--datapath', 'system', '--state-dir', '/run/xcpnet/agent'], GUEST_AGENT_LOG,
    { XCPNET_HOST_CREDENTIAL: readFileSync(credential, 'utf8') });
    progress(`${name}: Open vSwitch (kernel datapath) and the agent started; host uuid ${uuid}`);
    return {
      vm, name, uuid, mgmtIp, nics,
      setCable: async (device, up) => {
        const n = nics.find((x) => x.device === device);
        if (!n) throw new Error(`${name} has no NIC ${device}`);
        // Both ends, as a real cable: the guest's NIC and the switch's port lose their link.
        await Promise.all([vm.setLink(n.id, up), setSwitchEnd(state, n.tap, up)]);
      },
      agentLog: async () => (await vm.exec(['cat', GUEST_AGENT_LOG])).stdout,
      stop: () => vm.stop(),
    };
  } catch (e) {
    await vm.stop();
    throw e;
  }
}

/** ovsdb-server and ovs-vswitchd from the machine's own packages, in the guest's /run/openvswitch (the default paths). */
async function startGuestOvs(vm: LabVm): Promise<void> {
  const d = GUEST_OVS;
  await vm.sh(`mkdir -p ${d}
ovsdb-tool create ${d}/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server ${d}/conf.db --remote=punix:${d}/db.sock --remote=db:Open_vSwitch,Open_vSwitch,manager_options \\
  --pidfile=${d}/ovsdb-server.pid --detach --no-chdir --log-file=${d}/ovsdb-server.log
ovs-vsctl --no-wait init
ovs-vswitchd unix:${d}/db.sock --pidfile=${d}/ovs-vswitchd.pid --detach --no-chdir --log-file=${d}/ovs-vswitchd.log
# Without --no-wait, init waits until ovs-vswitchd has applied the database: it is up.
ovs-vsctl --timeout=60 init`, { timeoutMs: 120_000 });
}
