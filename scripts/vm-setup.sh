#!/usr/bin/env bash
# The VM test tier's needs, from Debian packages only (run as root on Debian 12):
# - QEMU (TCG, no KVM needed) and a static busybox for the VM's initramfs, installed;
# - Debian's own kernel (the package linux-image-amd64 depends on), downloaded and extracted
#   under var/vm/kernel, never installed: the machine's /boot and /lib/modules stay untouched.
# Idempotent: a second run finds everything in place and does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# kmod: depmod here, and modprobe in the guest (which runs the machine's own programs).
debs=(qemu-system-x86 busybox-static kmod)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "vm-setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

kdir=var/vm/kernel
if [ -f "$kdir/release" ]; then exit 0; fi

mkdir -p var/vm
work=$(mktemp -d var/vm/download.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt's downloader runs as _apt: let it write there (else it warns and falls back to root).
chmod 755 var/vm && chown _apt "$work" 2>/dev/null || true
cd "$work"
# Stale package lists name versions the mirror no longer has: refresh them once and retry.
apt-get download -qq linux-image-amd64 2>/dev/null || { apt-get update -qq && apt-get download -qq linux-image-amd64; }
# The meta package depends on exactly one versioned image: "linux-image-6.1.0-57-amd64 (= 6.1.192-3)".
dep=$(dpkg-deb -f linux-image-amd64_*.deb Depends)
pkg=$(sed -n 's/^\(linux-image-[0-9a-z.+-]*\) (= \([^)]*\)).*/\1/p' <<<"$dep")
ver=$(sed -n 's/^\(linux-image-[0-9a-z.+-]*\) (= \([^)]*\)).*/\2/p' <<<"$dep")
if [ -z "$pkg" ] || [ -z "$ver" ]; then echo "vm-setup: cannot read the kernel package from: $dep" >&2; exit 1; fi
echo "vm-setup: fetching Debian's kernel $pkg $ver (extracted under $kdir, not installed)"
apt-get download -qq "$pkg=$ver"
dpkg-deb -x "${pkg}_"*.deb root
release=${pkg#linux-image-}
if [ ! -f "root/boot/vmlinuz-$release" ] || [ ! -d "root/lib/modules/$release" ]; then
  echo "vm-setup: $pkg has no vmlinuz-$release or modules" >&2; exit 1
fi
# The package's postinst would run depmod; extracted by hand, the module index is made here.
depmod -b root "$release"
echo "$release" > root/release
cd - >/dev/null
rm -rf "$kdir"
mv "$work/root" "$kdir"
echo "vm-setup: kernel $release ready in $kdir"
