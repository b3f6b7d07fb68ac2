// Boot decisions rendered as iPXE scripts (as data, printed by ipxe-script.ts).
//
// URLs the scripts use (see docs/protocol.md):
//   ${base}/pxe/boot.ipxe                                the fixed entry script
//   ${base}/pxe/boot.ipxe?mac=…&uuid=…&serial=…&platform=…&buildarch=…[&profile=…]
//   ${base}/pxe/v1/artifacts/sha256/<hex>?token=${token}  kernel, initrd, wimboot, boot.wim, ISO
//   ${base}/pxe/v1/config/${token}/<file>                 preseed.cfg, user-data, meta-data, …
//   ${base}/pxe/runner/<runner>                           the task-sequence runners
// `${token}` is the run's one-time provisioning token; it appears only in an install script.
import type { OSImageDoc } from '../../../../schemas/kinds.ts';
import type { BootDecision } from './boot-decision.ts';
import type { IpxeCommand, IpxeScript, IpxeSection } from './ipxe-script.ts';
import type { MachineIdentity } from './machine-identity.ts';

export interface BootScriptContext {
  /** The server as the machine reaches it: `http://10.0.2.2:8080`. */
  base: string;
  machine: MachineIdentity;
}

export interface InstallContext {
  token: string;
  hostname: string;
}

/** iPXE's own view of the machine, sent back on every chain so the server sees it each boot. */
const IDENTITY_QUERY =
  'mac=${net0/mac}&uuid=${uuid}&serial=${serial:uristring}&platform=${platform}&buildarch=${buildarch}';

const ENTRY = '${base}/pxe/boot.ipxe';

export function entryScript(base: string): IpxeScript {
  return {
    comment: ['DeployX PXE entry: identifies this machine to the server and chains to its own script.'],
    variables: [{ name: 'base', value: base }],
    sections: [
      { label: 'identify', commands: [{ op: 'chain', url: `${ENTRY}?${IDENTITY_QUERY}`, orGoto: 'retry' }] },
      retrySection('DeployX: the server did not answer', 30),
    ],
  };
}

export function bootScript(decision: BootDecision, ctx: BootScriptContext, install?: InstallContext): IpxeScript {
  const variables = [{ name: 'base', value: ctx.base }];
  const mac = ctx.machine.mac;
  switch (decision.action) {
    case 'install': {
      if (!install) throw new Error('an install script needs its token and hostname');
      const { device, image, profile } = decision;
      return {
        comment: [
          `DeployX: install device ${device.id} as ${install.hostname}`,
          `profile ${profile.metadata.name}, image ${image.metadata.name} (${image.spec.installer})`,
        ],
        variables: [...variables, { name: 'token', value: install.token }],
        sections: [
          {
            label: 'install',
            commands: [
              { op: 'echo', text: `DeployX: installing ${image.metadata.name} on ${device.id} (${install.hostname})` },
              ...installCommands(image, device.id, install.hostname),
            ],
          },
          retrySection('DeployX: the installer did not start', 30),
        ],
      };
    }
    case 'local-disk': {
      const firmware = ctx.machine.platform ?? 'pcbios';
      const commands: IpxeCommand[] = [{ op: 'echo', text: `DeployX: ${decision.deviceId} is ${decision.reason}; booting from the local disk` }];
      // BIOS: boot the first hard disk through INT 13h; when there is none, or on EFI, `exit`
      // hands the machine back to the firmware, which tries its next boot entry.
      if (firmware === 'pcbios') commands.push({ op: 'sanboot-local', drive: '0x80', orGoto: 'local_end' });
      return {
        comment: [`DeployX: ${decision.deviceId} boots from its local disk (${decision.reason})`],
        variables,
        sections: [{ label: 'local', commands }, { label: 'firmware', commands: [{ op: 'exit' }] }],
      };
    }
    case 'menu': {
      const picks: IpxeSection[] = decision.profiles.map((p, i) => ({
        label: `pick_${i}`,
        commands: [{ op: 'chain', url: `${ENTRY}?${IDENTITY_QUERY}&profile=${encodeURIComponent(p.name)}`, orGoto: 'retry' }],
      }));
      return {
        comment: [`DeployX: unknown machine ${mac}; a technician may pick a profile`],
        variables,
        sections: [
          {
            label: 'menu',
            commands: [
              { op: 'menu', title: `DeployX: unknown machine ${mac} - install a profile` },
              ...decision.profiles.map((p, i) => ({ op: 'item' as const, label: `pick_${i}`, text: `${p.name} - ${p.description}` })),
              { op: 'item', label: 'retry', text: 'Nothing now: wait for a Device in Git' },
              { op: 'choose', variable: 'choice', timeoutMs: decision.timeoutSeconds * 1000, fallback: 'retry' },
              { op: 'goto-var', variable: 'choice' },
            ],
          },
          retrySection('DeployX: nothing picked', 30),
          ...picks,
        ],
      };
    }
    case 'wait':
      return {
        comment: [`DeployX: wait (${decision.reason})`],
        variables,
        sections: [retrySection(`DeployX: ${decision.message}`, decision.retrySeconds)],
      };
  }
}

/** Says why, waits, and asks again; loops on itself while the server is unreachable. */
function retrySection(message: string, seconds: number): IpxeSection {
  return {
    label: 'retry',
    commands: [
      { op: 'echo', text: `${message}; asking again in ${seconds} s` },
      { op: 'sleep', seconds },
      { op: 'chain', url: ENTRY, orGoto: 'retry' },
    ],
  };
}

function artifactUrl(sha256: string): string {
  return `\${base}/pxe/v1/artifacts/sha256/${sha256}?token=\${token}`;
}

function configUrl(file: string): string {
  return `\${base}/pxe/v1/config/\${token}/${file}`;
}

function installCommands(image: OSImageDoc, deviceId: string, hostname: string): IpxeCommand[] {
  const spec = image.spec;
  const fromImage = (spec.kernelArgs ?? '').split(/\s+/).filter((a) => a !== '');
  const deployx = ['deployx.server=${base}', 'deployx.token=${token}', `deployx.device=${deviceId}`];
  if (spec.installer === 'windows-wim') {
    // wimboot puts the named files into X:\Windows\System32 of WinPE: winpeshl.ini starts the
    // PowerShell runner, which reads the server and token from deployx.json.
    return [
      { op: 'kernel', url: artifactUrl(spec.wimboot!.sha256), args: [], orGoto: 'install_end' },
      { op: 'initrd', name: 'winpeshl.ini', url: configUrl('winpeshl.ini'), orGoto: 'install_end' },
      { op: 'initrd', name: 'deployx.json', url: configUrl('deployx.json'), orGoto: 'install_end' },
      { op: 'initrd', name: 'deployx-tasks.ps1', url: '${base}/pxe/runner/deployx-tasks.ps1', orGoto: 'install_end' },
      { op: 'initrd', name: 'boot.wim', url: artifactUrl(spec.bootWim!.sha256), orGoto: 'install_end' },
      { op: 'boot', orGoto: 'install_end' },
    ];
  }
  const installer =
    spec.installer === 'debian-preseed'
      ? ['auto=true', 'priority=critical', `url=${configUrl('preseed.cfg')}`, `netcfg/get_hostname=${hostname}`, 'netcfg/get_domain=']
      : [
          'autoinstall',
          `ds=nocloud-net;s=${configUrl('')}`,
          ...(spec.image ? [`url=${artifactUrl(spec.image.sha256)}`] : []),
        ];
  return [
    { op: 'kernel', url: artifactUrl(spec.kernel!.sha256), args: ['initrd=initrd', ...fromImage, ...installer, ...deployx], orGoto: 'install_end' },
    { op: 'initrd', name: 'initrd', url: artifactUrl(spec.initrd!.sha256), orGoto: 'install_end' },
    { op: 'boot', orGoto: 'install_end' },
  ];
}
