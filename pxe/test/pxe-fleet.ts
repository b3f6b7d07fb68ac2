// A fleet for provisioning tests: one profile with a task sequence, an OSImage whose kernel and
// initrd are small files kept in the repository (`source:`), and optionally the Device for a MAC.
import { createHash } from 'node:crypto';
import type { FileTree } from '../../reconciler/src/edges/git/test-repo.ts';

export const KERNEL = Buffer.from('fake kernel: iPXE downloads this and fails to execute it\n');
export const INITRD = Buffer.from('fake initrd\n');

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface PxeFleetOptions {
  /** Adds `Device` `name` with this MAC, provisioned with profile `web`. */
  device?: { name: string; mac: string; site?: string };
  menu?: boolean;
  /** The post-install script exits with this code (0 succeeds). */
  scriptExit?: number;
}

export function pxeFleet(options: PxeFleetOptions = {}): FileTree {
  const post = `#!/bin/sh\nset -eu\necho "post-install on $DEPLOYX_DEVICE ($DEPLOYX_HOSTNAME)"\nmkdir -p "$DEPLOYX_ROOT/var/lib/post"\necho done > "$DEPLOYX_ROOT/var/lib/post/marker"\n${options.scriptExit ? `echo "failing on purpose" >&2\nexit ${options.scriptExit}\n` : ''}`;
  const tree: FileTree = {
    'fleet.yaml': `apiVersion: deployx.dev/v1
kind: Fleet
metadata:
  name: pxe
spec:
  provisioning:
    menu: ${options.menu ? 'true' : 'false'}
`,
    'groups.yaml': `apiVersion: deployx.dev/v1
kind: Group
metadata:
  name: web
spec:
  selector:
    matchLabels: { role: web }
`,
    'images/boot/linux': KERNEL,
    'images/boot/initrd.gz': INITRD,
    'images/debian.yaml': `apiVersion: deployx.dev/v1
kind: OSImage
metadata:
  name: debian-12
spec:
  installer: debian-preseed
  os: { family: debian, version: "12" }
  arch: x86_64
  kernel:
    source: images/boot/linux
    sha256: ${sha256(KERNEL)}
  initrd:
    source: images/boot/initrd.gz
    sha256: ${sha256(INITRD)}
  kernelArgs: console=ttyS0,115200n8
`,
    'scripts/post.sh': post,
    'scripts.yaml': `apiVersion: deployx.dev/v1
kind: Script
metadata:
  name: post-install
spec:
  interpreter: sh
  source: scripts/post.sh
  run: once
`,
    'profiles.yaml': `apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: web
spec:
  description: Web server
  targets: [web]
  provisioning:
    image: debian-12
    hostnamePattern: web-{site}-{seq:02}
    locale: en_US.UTF-8
    timeZone: UTC
    tasks:
      - type: partition
        layout: lvm
      - type: apply-image
      - type: inject-config
      - type: install-agent
      - type: run-script
        script: post-install
      - type: reboot
`,
  };
  if (options.device) {
    tree['devices.yaml'] = `apiVersion: deployx.dev/v1
kind: Device
metadata:
  name: ${options.device.name}
  labels: { role: web, site: ${options.device.site ?? 'lab'} }
spec:
  macAddresses: ["${options.device.mac}"]
  profile: web
`;
  }
  return tree;
}
