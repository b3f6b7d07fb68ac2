// Installer answer files, rendered per provisioning run from the profile and the run's data:
// Debian preseed, Ubuntu autoinstall (cloud-init user-data), Windows unattend.xml — plus the two
// small WinPE files (winpeshl.ini, deployx.json) the PowerShell runner starts from.
//
// Every value placed in these files is either checked against a strict alphabet here (URLs,
// tokens, hostnames, device ids, disks) or escaped for the format (XML, YAML/JSON strings). The
// admin credential arrives already hashed (SHA-512 crypt for Linux, the unattend base64 form for
// Windows); this module never sees a password.
import type { OSImageDoc, ProfileDoc } from '../../../../schemas/kinds.ts';

export interface InstallerContext {
  deviceId: string;
  hostname: string;
  /** The server as the machine reaches it. */
  base: string;
  /** The run's provisioning token (task API, configs, artifacts). */
  token: string;
  /** One-time agent enrollment token bound to `deviceId`. */
  enrollmentToken: string;
  profile: ProfileDoc;
  image: OSImageDoc;
  admin: {
    user: string;
    /** `$6$…` (SHA-512 crypt); undefined: the account is created locked (no password login). */
    passwordCrypt: string | undefined;
    /** base64(UTF-16LE(password + "AdministratorPassword")); undefined: no password is set. */
    windowsPasswordValue: string | undefined;
  };
}

export class InstallerConfigError extends Error {
  readonly code = 'pxe.render';
}

const URL_SAFE = /^https?:\/\/[A-Za-z0-9.\-[\]:]+$/;
const TOKEN = /^dx[a-z]_[A-Za-z0-9_-]{20,}(\.[0-9a-f]{64})?$/; // an enrollment token may carry the server key (schemas/enrollment-token.ts)
const WORD = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DISK = /^(\/dev\/[A-Za-z0-9/_-]+|\d+)$/;
const CRYPT = /^\$6\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/;

function check(re: RegExp, value: string, what: string): string {
  if (!re.test(value)) throw new InstallerConfigError(`${what} ${JSON.stringify(value)} cannot go into an installer config`);
  return value;
}

function checked(ctx: InstallerContext) {
  return {
    base: check(URL_SAFE, ctx.base, 'server URL'),
    token: check(TOKEN, ctx.token, 'token'),
    enroll: check(TOKEN, ctx.enrollmentToken, 'enrollment token'),
    device: check(WORD, ctx.deviceId, 'device id'),
    hostname: check(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, ctx.hostname, 'hostname'),
    user: check(/^[a-z][a-z0-9_-]{0,31}$/, ctx.admin.user, 'admin user'),
    crypt: ctx.admin.passwordCrypt === undefined ? undefined : check(CRYPT, ctx.admin.passwordCrypt, 'password hash'),
  };
}

function partitionTask(profile: ProfileDoc) {
  const task = profile.spec.provisioning?.tasks.find((t) => t.type === 'partition');
  return task ? { layout: task.layout ?? 'single', disk: task.disk === undefined ? undefined : check(DISK, task.disk, 'disk') } : undefined;
}

function linuxLocale(locale: string | undefined): string {
  if (locale === undefined) return 'en_US.UTF-8';
  const m = /^([a-z]{2,3})[-_]([A-Z]{2})(\.UTF-8)?$/.exec(locale);
  if (!m) throw new InstallerConfigError(`locale ${JSON.stringify(locale)} is not like en_US.UTF-8`);
  return `${m[1]}_${m[2]}.UTF-8`;
}

function windowsLocale(locale: string | undefined): string {
  if (locale === undefined) return 'en-US';
  const m = /^([a-z]{2,3})[-_]([A-Z]{2})(\.UTF-8)?$/.exec(locale);
  if (!m) throw new InstallerConfigError(`locale ${JSON.stringify(locale)} is not like en-US`);
  return `${m[1]}-${m[2]}`;
}

function timeZone(tz: string | undefined): string {
  return check(/^[A-Za-z0-9_+\-/]+$/, tz ?? 'UTC', 'time zone');
}

/** Single-quoted for sh; the values are already restricted to a quote-free alphabet. */
function sq(value: string): string {
  if (value.includes("'")) throw new InstallerConfigError('quote in a shell argument');
  return `'${value}'`;
}

// ---- Debian preseed ----

export function renderPreseed(ctx: InstallerContext): string {
  const v = checked(ctx);
  const p = ctx.profile.spec.provisioning!;
  const part = partitionTask(ctx.profile);
  const method = part?.layout === 'lvm' ? 'lvm' : 'regular';
  const lines = [
    `# DeployX preseed: device ${v.device} as ${v.hostname}, profile ${ctx.profile.metadata.name}, image ${ctx.image.metadata.name}.`,
    '# Rendered for one provisioning run; it stops working when the run ends.',
    `d-i debian-installer/locale string ${linuxLocale(p.locale)}`,
    'd-i keyboard-configuration/xkb-keymap select us',
    'd-i netcfg/choose_interface select auto',
    `d-i netcfg/get_hostname string ${v.hostname}`,
    `d-i netcfg/hostname string ${v.hostname}`,
    'd-i netcfg/get_domain string',
    'd-i clock-setup/utc boolean true',
    `d-i time/zone string ${timeZone(p.timeZone)}`,
    'd-i clock-setup/ntp boolean true',
    'd-i passwd/root-login boolean false',
    'd-i passwd/user-fullname string DeployX administrator',
    `d-i passwd/username string ${v.user}`,
    // A locked account when no secret is configured: no password login, never a default one.
    `d-i passwd/user-password-crypted password ${v.crypt ?? '!'}`,
    ...(part?.disk !== undefined ? [`d-i partman-auto/disk string ${part.disk}`] : []),
    `d-i partman-auto/method string ${method}`,
    'd-i partman-auto/choose_recipe select atomic',
    'd-i partman-lvm/device_remove_lvm boolean true',
    'd-i partman-md/device_remove_md boolean true',
    'd-i partman-lvm/confirm boolean true',
    'd-i partman-lvm/confirm_nooverwrite boolean true',
    'd-i partman-auto-lvm/guided_size string max',
    ...(part?.layout === 'efi-standard' ? ['d-i partman-efi/non_efi_system boolean true'] : []),
    'd-i partman-partitioning/confirm_write_new_label boolean true',
    'd-i partman/choose_partition select finish',
    'd-i partman/confirm boolean true',
    'd-i partman/confirm_nooverwrite boolean true',
    'tasksel tasksel/first multiselect standard, ssh-server',
    'd-i pkgsel/include string curl ca-certificates',
    'popularity-contest popularity-contest/participate boolean false',
    'd-i grub-installer/only_debian boolean true',
    'd-i grub-installer/bootdev string default',
    'd-i finish-install/reboot_in_progress note',
    // The agent bootstrap, then the task sequence against the installed system in /target.
    'd-i preseed/late_command string ' +
      [
        'mkdir -p /target/etc/deployx',
        `printf 'DEPLOYX_SERVER=%s\\nDEPLOYX_ENROLLMENT_TOKEN=%s\\nDEPLOYX_DEVICE=%s\\n' ${sq(v.base)} ${sq(v.enroll)} ${sq(v.device)} > /target/etc/deployx/agent.env`,
        'chmod 600 /target/etc/deployx/agent.env',
        `wget -q -O /tmp/deployx-tasks.sh ${sq(`${v.base}/pxe/runner/deployx-tasks.sh`)} && sh /tmp/deployx-tasks.sh --server ${sq(v.base)} --token ${sq(v.token)} --root /target --no-reboot`,
      ].join('; '),
  ];
  return lines.join('\n') + '\n';
}

// ---- Ubuntu autoinstall ----

/** cloud-init user-data for subiquity's autoinstall; YAML written with JSON strings (valid YAML). */
export function renderAutoinstallUserData(ctx: InstallerContext): string {
  const v = checked(ctx);
  const p = ctx.profile.spec.provisioning!;
  const part = partitionTask(ctx.profile);
  const j = (x: unknown) => JSON.stringify(x);
  const storage = [
    '  storage:',
    '    layout:',
    `      name: ${part?.layout === 'lvm' ? 'lvm' : 'direct'}`,
    ...(part?.disk !== undefined ? ['      match:', `        path: ${j(part.disk)}`] : []),
  ];
  const env = `DEPLOYX_SERVER=${v.base}\nDEPLOYX_ENROLLMENT_TOKEN=${v.enroll}\nDEPLOYX_DEVICE=${v.device}\n`;
  const lines = [
    '#cloud-config',
    `# DeployX autoinstall: device ${v.device} as ${v.hostname}, profile ${ctx.profile.metadata.name}, image ${ctx.image.metadata.name}.`,
    '# Rendered for one provisioning run; it stops working when the run ends.',
    'autoinstall:',
    '  version: 1',
    `  locale: ${j(linuxLocale(p.locale))}`,
    '  keyboard:',
    '    layout: "us"',
    `  timezone: ${j(timeZone(p.timeZone))}`,
    '  identity:',
    `    hostname: ${j(v.hostname)}`,
    `    username: ${j(v.user)}`,
    `    password: ${j(v.crypt ?? '!')}`,
    '  ssh:',
    '    install-server: true',
    '    allow-pw: false',
    ...storage,
    '  packages: ["curl", "ca-certificates"]',
    '  user-data:',
    '    write_files:',
    '      - path: "/etc/deployx/agent.env"',
    '        permissions: "0600"',
    `        content: ${j(env)}`,
    // argv form: no shell string is built from these values.
    '  late-commands:',
    `    - ["wget", "-q", "-O", "/tmp/deployx-tasks.sh", ${j(`${v.base}/pxe/runner/deployx-tasks.sh`)}]`,
    `    - ["sh", "/tmp/deployx-tasks.sh", "--server", ${j(v.base)}, "--token", ${j(v.token)}, "--root", "/target", "--no-reboot"]`,
  ];
  return lines.join('\n') + '\n';
}

/** nocloud meta-data: the instance id is the device, so a reinstall is a new instance. */
export function renderAutoinstallMetaData(ctx: InstallerContext): string {
  const v = checked(ctx);
  return `instance-id: ${JSON.stringify(`deployx-${v.device}`)}\nlocal-hostname: ${JSON.stringify(v.hostname)}\n`;
}

// ---- Windows ----

const WINDOWS_TIME_ZONES: Record<string, string> = {
  UTC: 'UTC',
  'Etc/UTC': 'UTC',
  'Europe/London': 'GMT Standard Time',
  'Europe/Berlin': 'W. Europe Standard Time',
  'Europe/Paris': 'Romance Standard Time',
  'Europe/Amsterdam': 'W. Europe Standard Time',
  'America/New_York': 'Eastern Standard Time',
  'America/Chicago': 'Central Standard Time',
  'America/Denver': 'Mountain Standard Time',
  'America/Los_Angeles': 'Pacific Standard Time',
  'Asia/Tokyo': 'Tokyo Standard Time',
  'Asia/Singapore': 'Singapore Standard Time',
  'Australia/Sydney': 'AUS Eastern Standard Time',
};

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * unattend.xml for the applied image (the runner's inject-config task puts it in
 * C:\Windows\Panther): computer name, locale, time zone, OOBE skipped, the administrator password
 * in the documented base64 UTF-16LE form, and the agent bootstrap at specialize.
 */
export function renderUnattend(ctx: InstallerContext): string {
  const v = checked(ctx);
  const p = ctx.profile.spec.provisioning!;
  // NetBIOS computer names are at most 15 characters.
  const computerName = v.hostname.slice(0, 15).toUpperCase();
  const locale = windowsLocale(p.locale);
  const tz = WINDOWS_TIME_ZONES[p.timeZone ?? 'UTC'] ?? timeZone(p.timeZone);
  const arch = ctx.image.spec.arch === 'arm64' ? 'arm64' : 'amd64';
  const component = (name: string, body: string[]) => [
    `    <component name="${name}" processorArchitecture="${arch}" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">`,
    ...body.map((l) => `      ${l}`),
    '    </component>',
  ];
  const password = ctx.admin.windowsPasswordValue;
  if (password !== undefined) check(/^[A-Za-z0-9+/=]+$/, password, 'password value');
  // start-agent.ps1 is written by the runner's install-agent task next to the agent it installs.
  const agent = `powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\DeployX\\start-agent.ps1 -Server ${v.base} -Token ${v.enroll} -Device ${v.device}`;
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<!-- DeployX unattend: device ${xml(v.device)} as ${xml(v.hostname)}, profile ${xml(ctx.profile.metadata.name)}, image ${xml(ctx.image.metadata.name)}. -->`,
    '<unattend xmlns="urn:schemas-microsoft-com:unattend">',
    '  <settings pass="specialize">',
    ...component('Microsoft-Windows-Shell-Setup', [`<ComputerName>${xml(computerName)}</ComputerName>`, `<TimeZone>${xml(tz)}</TimeZone>`]),
    ...component('Microsoft-Windows-Deployment', [
      '<RunSynchronous>',
      '  <RunSynchronousCommand wcm:action="add">',
      '    <Order>1</Order>',
      '    <Description>DeployX agent bootstrap</Description>',
      `    <Path>${xml(agent)}</Path>`,
      '  </RunSynchronousCommand>',
      '</RunSynchronous>',
    ]),
    '  </settings>',
    '  <settings pass="oobeSystem">',
    ...component('Microsoft-Windows-International-Core', [
      `<InputLocale>${locale}</InputLocale>`,
      `<SystemLocale>${locale}</SystemLocale>`,
      `<UILanguage>${locale}</UILanguage>`,
      `<UserLocale>${locale}</UserLocale>`,
    ]),
    ...component('Microsoft-Windows-Shell-Setup', [
      '<OOBE>',
      '  <HideEULAPage>true</HideEULAPage>',
      '  <HideOnlineAccountScreens>true</HideOnlineAccountScreens>',
      '  <HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>',
      '  <ProtectYourPC>3</ProtectYourPC>',
      '</OOBE>',
      ...(password === undefined
        ? []
        : ['<UserAccounts>', '  <AdministratorPassword>', `    <Value>${password}</Value>`, '    <PlainText>false</PlainText>', '  </AdministratorPassword>', '</UserAccounts>']),
    ]),
    '  </settings>',
    '</unattend>',
    '',
  ].join('\n');
}

/** WinPE shell: network up (wpeinit), then the PowerShell task runner wimboot placed in System32. */
export function renderWinpeshl(): string {
  return [
    '[LaunchApps]',
    '"%SYSTEMROOT%\\System32\\wpeinit.exe"',
    '"%SYSTEMROOT%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "-NoProfile -ExecutionPolicy Bypass -File %SYSTEMROOT%\\System32\\deployx-tasks.ps1"',
    '',
  ].join('\r\n');
}

/** What the PowerShell runner reads from X:\Windows\System32\deployx.json. */
export function renderWinpeSettings(ctx: InstallerContext): string {
  const v = checked(ctx);
  return JSON.stringify({ server: v.base, token: v.token, device: v.device, hostname: v.hostname }, null, 2) + '\n';
}

/** The config files a run of this installer serves, by URL file name. */
export function installerFiles(image: OSImageDoc): Record<string, (ctx: InstallerContext) => string> {
  switch (image.spec.installer) {
    case 'debian-preseed':
      return { 'preseed.cfg': renderPreseed };
    case 'ubuntu-autoinstall':
      return { 'user-data': renderAutoinstallUserData, 'meta-data': renderAutoinstallMetaData, 'vendor-data': () => '' };
    case 'windows-wim':
      return { 'unattend.xml': renderUnattend, 'winpeshl.ini': () => renderWinpeshl(), 'deployx.json': renderWinpeSettings };
  }
}
