// iPXE scripts as typed data, and their one renderer.
//
// A script is variables at the top, then labelled sections in order. Each section renders as
// `:<label>` … `:<label>_end`; a command that may fail names where to go (`orGoto`), usually its
// section's `_end`, and execution falls through to the next section (a fallback). Nothing is ever
// hand-edited per machine: the boot decision produces this data and `renderIpxe` prints it.
//
// iPXE expands `${name}` in every argument and splits on whitespace, with no quoting. So every
// value from data is checked here: arguments may not hold whitespace, `$`, quotes or control
// characters; echo text is reduced to a safe alphabet. A value that breaks that rule is a bug in
// the caller (or a revision validation missed), so it throws instead of rendering something else.

export type IpxeCommand =
  | { op: 'echo'; text: string }
  | { op: 'kernel'; url: string; args: readonly string[]; orGoto?: string }
  | { op: 'initrd'; url: string; name?: string; orGoto?: string }
  | { op: 'boot'; orGoto?: string }
  | { op: 'chain'; url: string; orGoto?: string }
  | { op: 'sleep'; seconds: number }
  | { op: 'exit' }
  | { op: 'sanboot-local'; drive: string; orGoto?: string }
  | { op: 'goto'; label: string }
  | { op: 'menu'; title: string }
  | { op: 'item'; label: string; text: string }
  | { op: 'choose'; variable: string; timeoutMs: number; fallback: string }
  | { op: 'goto-var'; variable: string };

export interface IpxeSection {
  label: string;
  commands: readonly IpxeCommand[];
}

export interface IpxeScript {
  /** Comment lines under the shebang: what this script is for. */
  comment: readonly string[];
  /** `set name value` at the top; values are URLs or tokens. */
  variables: ReadonlyArray<{ name: string; value: string }>;
  sections: readonly IpxeSection[];
}

export class IpxeRenderError extends Error {
  readonly code = 'pxe.render';
}

const NAME = /^[a-z][a-z0-9_]*$/;
const ARG = /^[^\s$"'\\`\x00-\x1f\x7f]+$/;
/** An argument that may reference script variables: `${base}/pxe/…`. */
const ARG_WITH_VARS = /^(?:[^\s$"'\\`\x00-\x1f\x7f]|\$\{[a-z][a-z0-9_]*(?:\/[a-z0-9]+)?(?::[a-z]+)?\})+$/;

export function renderIpxe(script: IpxeScript): string {
  const lines = ['#!ipxe'];
  for (const c of script.comment) lines.push(`# ${safeText(c)}`);
  if (script.variables.length > 0) lines.push('');
  for (const v of script.variables) lines.push(`set ${name(v.name)} ${arg(v.value)}`);
  const labels = new Set(script.sections.flatMap((s) => [s.label, `${s.label}_end`]));
  for (const section of script.sections) {
    lines.push('', `:${name(section.label)}`);
    for (const c of section.commands) lines.push(command(c, labels));
    lines.push(`:${section.label}_end`);
  }
  return lines.join('\n') + '\n';
}

function command(c: IpxeCommand, labels: ReadonlySet<string>): string {
  const target = (label: string | undefined) => {
    if (label === undefined) return '';
    if (!labels.has(label)) throw new IpxeRenderError(`goto ${label}: no such label`);
    return ` || goto ${label}`;
  };
  switch (c.op) {
    case 'echo':
      return `echo ${safeText(c.text)}`;
    case 'kernel':
      return ['kernel', url(c.url), ...c.args.map(url)].join(' ') + target(c.orGoto);
    case 'initrd':
      return (c.name === undefined ? `initrd ${url(c.url)}` : `initrd --name ${arg(c.name)} ${url(c.url)}`) + target(c.orGoto);
    case 'boot':
      return `boot${target(c.orGoto)}`;
    case 'chain':
      return `chain --autofree --replace ${url(c.url)}${target(c.orGoto)}`;
    case 'sleep':
      if (!Number.isInteger(c.seconds) || c.seconds < 0) throw new IpxeRenderError(`sleep ${c.seconds}`);
      return `sleep ${c.seconds}`;
    case 'exit':
      return 'exit';
    case 'sanboot-local':
      if (!/^0x[0-9a-f]{2}$/.test(c.drive)) throw new IpxeRenderError(`drive ${c.drive}`);
      return `sanboot --no-describe --drive ${c.drive}${target(c.orGoto)}`;
    case 'goto':
      if (!labels.has(c.label)) throw new IpxeRenderError(`goto ${c.label}: no such label`);
      return `goto ${c.label}`;
    case 'menu':
      return `menu ${safeText(c.title)}`;
    case 'item':
      return `item ${name(c.label)} ${safeText(c.text)}`;
    case 'choose':
      if (!Number.isInteger(c.timeoutMs) || c.timeoutMs < 0) throw new IpxeRenderError(`timeout ${c.timeoutMs}`);
      return `choose --timeout ${c.timeoutMs} ${name(c.variable)}${target(c.fallback)}`;
    case 'goto-var':
      return `goto \${${name(c.variable)}}`;
  }
}

function name(value: string): string {
  if (!NAME.test(value)) throw new IpxeRenderError(`not an iPXE name: ${JSON.stringify(value)}`);
  return value;
}

function arg(value: string): string {
  if (!ARG.test(value)) throw new IpxeRenderError(`not a safe iPXE argument: ${JSON.stringify(value)}`);
  return value;
}

function url(value: string): string {
  if (!ARG_WITH_VARS.test(value)) throw new IpxeRenderError(`not a safe iPXE URL: ${JSON.stringify(value)}`);
  return value;
}

/** Text for echo/menu/comments: anything outside a plain alphabet becomes `?`. */
export function safeText(text: string): string {
  return text.replace(/[^A-Za-z0-9 .,:;()/_+=@%#*<>!?[\]-]/g, '?');
}

/** Whether an argument (a kernel arg from Git, say) can be placed in a script verbatim. */
export function isSafeIpxeArg(value: string): boolean {
  return ARG.test(value);
}
