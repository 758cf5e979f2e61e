#!/usr/bin/env bash
# Installs everything xcpnet needs on a fresh Debian machine with Node 20 (run as root),
# then builds. Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js 20 or later. Debian 12's own nodejs is 18, which xcpnet does not run on: its SQLite
# binding (better-sqlite3 12) supports Node 20 to 26 only, and Node 18 is past its end of life.
# Debian 12 has no newer nodejs (not in bookworm-backports either), so it is not installed here.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  if [ "$node_major" -eq 0 ]; then have="no node"; else have="node $(node --version)"; fi
  cat >&2 <<EOM
setup: xcpnet needs Node.js 20 or later; this machine has $have.
  Debian 12's own nodejs package is 18: better-sqlite3 12 (xcpnet's database) does not support
  it, and Debian 12 offers no newer one. Install Node.js 20 or 22 (for instance NodeSource's
  nodejs 20.x packages for bookworm; Debian 13 ships nodejs 20), then run setup again.
EOM
  exit 1
fi

# ovn-central and ovn-host: OVN pools (the master runs ovn-northd and its databases, each agent
# an ovn-controller), started by xcpnet itself, never as the packages' services.
# chromium and a font: the topology view's system test drives Debian's browser headless
# (playwright-core, which downloads no browser of its own). busybox-static: the agent's DHCP
# client (udhcpc); dnsmasq-base: the lab upstream's DHCP server (the binary only: no system
# service is installed or started). ethtool: the lab turns off checksum offload on its cables.
# ansible: the wire tests run its xenserver modules (community.general) against a master.
# openssl: the API's certificate and the pool's OVN CA and host certificates are made with it.
debs=(openvswitch-switch ovn-central ovn-host openssl iproute2 iputils-ping python3-os-xenapi procps bridge-utils nftables chromium fonts-dejavu-core busybox-static dnsmasq-base ethtool ansible)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packages' own services are not wanted: xcpnet starts its own OVS and OVN daemons. A
  # policy-rc.d that refuses every start keeps the packages' scripts from starting them (one that
  # is already there, as in containers, is left as it is).
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { [ -n "$made_policy" ] && rm -f "$policy"; exit 1; }
  if [ -n "$made_policy" ]; then rm -f "$policy"; fi
  # Installed but not started: nor at the next boot.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now ovn-central.service ovn-host.service >/dev/null 2>&1 || true
  fi
fi

# The VM test tier: QEMU, busybox and Debian's kernel (extracted under var/vm, not installed).
./scripts/vm-setup.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building"
npx tsc -p .
# The topology view's browser assets (dist/web/topology), served by the master.
npx tsc -p src/topology/page
node scripts/build-web.mjs
