#!/usr/bin/env bash
# Installs everything xcpnet needs on a fresh Debian machine with Node 20 (run as root),
# then builds. Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: the agent's DHCP client (udhcpc); dnsmasq-base: the lab upstream's DHCP server
# (the binary only: no system service is installed or started).
debs=(openvswitch-switch iproute2 iputils-ping python3-os-xenapi procps busybox-static dnsmasq-base)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's own service is not wanted: xcpnet starts its own OVS instances.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The VM test tier: QEMU, busybox and Debian's kernel (extracted under var/vm, not installed).
./scripts/vm-setup.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building"
npx tsc -p .
