// The scenario suite against the fake driver (no root): the contract's own reference.
import { FakeGuests } from '../../src/backends/fake/guests.js';
import { FakeHost, fakeMac } from '../../src/backends/fake/host.js';
import { HOST_UUIDS } from './scenarios.js';
import { scenarioSuite } from './suite.js';

scenarioSuite({
  name: 'fake',
  lacks: async () => ({}),
  async open(n) {
    return HOST_UUIDS.slice(0, n).map((seed) => {
      const driver = new FakeHost({ nics: 4, seed });
      return { driver, guests: new FakeGuests(driver) };
    });
  },
  async close(hosts) { for (const h of hosts) await h.driver.close(); },
  async expectedNic(i, device) {
    const k = Number(device.slice(3));
    return {
      device, position: k, MAC: fakeMac(HOST_UUIDS[i]!, k), MTU: 1500, carrier: true, speed: 10000, duplex: 'full', vendor_id: '1af4',
      vendor_name: 'xcpnet', device_id: '0001', device_name: 'fake NIC', pci_bus_path: `0000:00:0${k + 3}.0`, driver: 'fake',
    };
  },
});
