// Where the VM tier finds Debian's kernel: scripts/vm-setup.sh extracts the package that
// linux-image-amd64 depends on under var/vm/kernel of the checkout (never into /boot).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this module was built from (dist/src/lab/vm/ → four levels up). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');

export interface GuestKernel {
  /** `uname -r` of the guest, e.g. 6.1.0-57-amd64. */
  release: string;
  vmlinuz: string;
  /** Its modules: <dir>/lib/modules/<release>, with the index depmod made. */
  modulesDir: string;
}

export function defaultKernelDir(): string {
  return process.env.XCPNET_VM_KERNEL_DIR ?? join(REPO_ROOT, 'var', 'vm', 'kernel');
}

/** The extracted kernel, or why there is none (an Error naming the setup step). */
export function findGuestKernel(dir = defaultKernelDir()): GuestKernel {
  const releaseFile = join(dir, 'release');
  if (!existsSync(releaseFile)) throw new Error(`no guest kernel in ${dir}: run scripts/vm-setup.sh as root`);
  const release = readFileSync(releaseFile, 'utf8').trim();
  if (!/^[0-9][0-9a-z.+-]*$/.test(release)) throw new Error(`bad kernel release in ${releaseFile}: ${JSON.stringify(release)}`);
  const k = { release, vmlinuz: join(dir, 'boot', `vmlinuz-${release}`), modulesDir: join(dir, 'lib', 'modules', release) };
  for (const p of [k.vmlinuz, join(k.modulesDir, 'modules.dep')]) {
    if (!existsSync(p)) throw new Error(`guest kernel ${release} is incomplete (no ${p}): remove ${dir} and run scripts/vm-setup.sh`);
  }
  return k;
}

/**
 * Why the VM tier is skipped here, or false. Only a missing root is a reason: as root (CI) a
 * missing QEMU or kernel is a failure, not a skip, so a broken setup cannot pass unseen.
 */
export function vmTierSkipReason(): string | false {
  return process.getuid?.() === 0 ? false : 'the VM tier needs root (taps in lab namespaces, QEMU); run as root after scripts/vm-setup.sh';
}

/** busybox-static's binary: the initramfs' only program. */
export const BUSYBOX = '/bin/busybox';
