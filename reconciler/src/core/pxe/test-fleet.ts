// A small provisioning fleet for the core's PXE tests: a Debian, an Ubuntu and a Windows profile.
import type { FleetModel } from '../model.ts';
import { buildModel } from '../compile/test-builders.ts';

const H = (c: string) => c.repeat(64);

export function pxeModel(options: { menu?: boolean; menuProfiles?: string[] } = {}): FleetModel {
  const tasks = [
    { type: 'partition' as const, layout: 'lvm' as const, disk: '/dev/sda' },
    { type: 'apply-image' as const },
    { type: 'inject-config' as const },
    { type: 'install-agent' as const },
    { type: 'run-script' as const, script: 'post', continueOnError: true },
    { type: 'reboot' as const },
  ];
  return buildModel({
    revision: 'main@sha1:1111111111111111111111111111111111111111',
    fleet: { provisioning: { ...(options.menu ? { menu: true } : {}), ...(options.menuProfiles ? { menuProfiles: options.menuProfiles } : {}) } },
    groups: { all: { selector: { matchLabels: { managed: 'yes' } } } },
    scripts: { post: { interpreter: 'sh', content: 'echo post\n', timeoutSeconds: 120 } },
    images: {
      'debian-12': {
        installer: 'debian-preseed',
        os: { family: 'debian', version: '12' },
        arch: 'x86_64',
        kernel: { source: 'boot/linux', sha256: H('a') },
        initrd: { source: 'boot/initrd.gz', sha256: H('b') },
        kernelArgs: 'console=ttyS0,115200n8 mirror/http/hostname=mirror.example',
      },
      'ubuntu-24.04': {
        installer: 'ubuntu-autoinstall',
        os: { family: 'ubuntu', version: '24.04' },
        arch: 'x86_64',
        kernel: { url: 'http://mirror.example/ubuntu/linux', sha256: H('c') },
        initrd: { url: 'http://mirror.example/ubuntu/initrd', sha256: H('d') },
        image: { url: 'http://mirror.example/ubuntu/live.iso', sha256: H('e') },
        kernelArgs: 'ip=dhcp',
      },
      'windows-11': {
        installer: 'windows-wim',
        os: { family: 'windows', version: '11' },
        arch: 'x86_64',
        wimboot: { url: 'http://mirror.example/wimboot', sha256: H('1') },
        bootWim: { url: 'http://mirror.example/boot.wim', sha256: H('2') },
        image: { url: 'http://mirror.example/install.wim', sha256: H('3'), size: 4096 },
      },
      'arm-debian': {
        installer: 'debian-preseed',
        os: { family: 'debian', version: '12' },
        arch: 'arm64',
        kernel: { source: 'boot/linux', sha256: H('a') },
        initrd: { source: 'boot/initrd.gz', sha256: H('b') },
      },
    },
    profiles: {
      web: { description: 'Web server', targets: ['all'], provisioning: { image: 'debian-12', hostnamePattern: 'web-{site}-{seq:02}', locale: 'en_US.UTF-8', timeZone: 'UTC', tasks } },
      api: { description: 'API server', targets: ['all'], provisioning: { image: 'ubuntu-24.04', hostnamePattern: 'api-{seq:03}', tasks } },
      kiosk: {
        targets: ['all'],
        provisioning: { image: 'windows-11', hostnamePattern: 'kiosk-{site}-{seq:02}', locale: 'en-US', timeZone: 'Europe/Berlin', tasks: [{ type: 'partition', layout: 'windows-standard' }, ...tasks.slice(1)] },
      },
      arm: { targets: ['all'], provisioning: { image: 'arm-debian', tasks } },
      steady: { targets: ['all'] },
    },
    devices: {
      'web-1': { macAddresses: ['52:54:00:00:00:01'], profile: 'web' },
      'api-1': { macAddresses: ['52-54-00-00-00-02'], profile: 'api', uuid: '0b8a7c6d-1111-2222-3333-444455556666' },
      'kiosk-1': { serial: 'KSK-001', profile: 'kiosk', firmware: 'efi' },
      'named-1': { macAddresses: ['52:54:00:00:00:04'], profile: 'web', hostname: 'Frontdoor' },
      'arm-1': { macAddresses: ['52:54:00:00:00:05'], profile: 'arm' },
      'steady-1': { macAddresses: ['52:54:00:00:00:06'], profile: 'steady' },
    },
    deviceLabels: { 'web-1': { site: 'eu' }, 'kiosk-1': { site: 'us' }, 'named-1': { site: 'eu' } },
    repoFiles: { 'boot/linux': 'kernel', 'boot/initrd.gz': 'initrd' },
  });
}
