// The seed's commands in the seed's own order (seeds/000): network-create; network-destroy,
// refused until PIFs are forgotten, VIFs unplugged and VLANs destroyed; pif-scan bringing a NIC
// back with a new PIF and network; vif-create then vif-plug on a running VM.
import { after, before, test } from 'node:test';
import { doc, lines, record, runTranscript, scanSteps, startServer, type Server, type Vars } from './harness.js';


let server: Server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('seed 000: networks, PIFs and VIFs as the seed tells them', async () => {
  const vars: Vars = {};
  await runTranscript(server, [
    // Setup: the host and its NICs.
    ...scanSteps(['eth1', 'eth2']),
    { cmd: 'pif-param-get uuid={eth2} param-name=network-uuid', stdout: '{?net2}\n' },

    // "xe network-create creates an internal network with no connection to the outside world."
    { cmd: 'network-create name-label=seednet', stdout: '{?net}\n' },
    { cmd: 'network-param-get uuid={net} param-name=PIF-uuids', stdout: '\n' },

    // Give it a running VM's VIF and a VLAN, so that destroying it is refused.
    { cmd: 'vm-create name-label=seedvm', stdout: '{?vm}\n' },
    { cmd: 'vif-create device=0 network-uuid={net} vm-uuid={vm}', stdout: '{?vif}\n' },
    { cmd: 'vm-start uuid={vm}' },
    { cmd: 'vif-param-get uuid={vif} param-name=currently-attached', stdout: 'true\n' },
    { cmd: 'vlan-create pif-uuid={eth1} vlan=10 network-uuid={net}', stdout: '{?vlanpif}\n' },
    { cmd: 'vlan-list untagged-PIF={vlanpif} --minimal', stdout: '{?vlan}\n' },

    // "In order to successfully remove a network, active PIFs must be removed, VIFs detached,
    // and VLANs removed."
    { cmd: 'network-destroy uuid={net}', stderr: lines(doc('NETWORK_CONTAINS_VIF'), 'vifs: {vif}') },
    { cmd: 'vif-unplug uuid={vif}' },
    { cmd: 'vif-param-get uuid={vif} param-name=currently-attached', stdout: 'false\n' },
    { cmd: 'network-destroy uuid={net}', stderr: lines(doc('NETWORK_CONTAINS_PIF'), 'pifs: {vlanpif}') },
    { cmd: 'vlan-destroy uuid={vlan}' },
    { cmd: 'network-destroy uuid={net}' },
    { cmd: 'network-list uuid={net} --minimal', stdout: '\n' },
    // The unattached VIF went with the network.
    { cmd: 'vif-list uuid={vif} --minimal', stdout: '\n' },

    // A network with a physical PIF: pif-forget first.
    { cmd: 'network-destroy uuid={net2}', stderr: lines(doc('NETWORK_CONTAINS_PIF'), 'pifs: {eth2}') },
    { cmd: 'pif-forget uuid={eth2}' },
    { cmd: 'network-destroy uuid={net2}' },

    // "run the xe pif-scan command, and a new PIF and network will be created."
    { cmd: 'pif-list device=eth2 --minimal', stdout: '\n' },
    { cmd: 'pif-scan host-uuid={host}' },
    { cmd: 'pif-list device=eth2 --minimal', stdout: '{?eth2b}\n' },
    { cmd: 'pif-param-get uuid={eth2b} param-name=network-uuid', stdout: '{?net2b}\n' },
    { cmd: 'network-param-get uuid={net2b} param-name=bridge', stdout: 'xenbr2\n' },

    // "xe vif-create will create a new VIF ... If the VM is running, you need to attach it
    // using xe vif-plug."
    { cmd: 'vif-create device=1 network-uuid={net2b} vm-uuid={vm}', stdout: '{?vif2}\n' },
    { cmd: 'vif-param-get uuid={vif2} param-name=currently-attached', stdout: 'false\n' },
    { cmd: 'vif-plug uuid={vif2}' },
    { cmd: 'vif-param-get uuid={vif2} param-name=currently-attached', stdout: 'true\n' },
    { cmd: 'vm-vif-list uuid={vm} params=uuid,device,network-uuid', stdout: record([
      ['uuid ( RO)', '{vif2}'],
      ['device ( RO)', '1'],
      ['network-uuid ( RO)', '{net2b}'],
    ]) },
  ], vars);
});
