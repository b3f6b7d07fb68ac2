// deployx validate [PATH] [--format text|json|github] [--ref REF]
//                  [--verify-commits off|head|all] [--trusted-ssh-signers FILE] [--trusted-openpgp-keys FILE]...
//
// Exit 0: valid. Exit 1: the repository has errors, or its commit would be refused by a server
// verifying signatures in that mode. Exit 2: usage or I/O error.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type RepositoryLocation, type RepositoryValidation, validateRepository } from '../../../reconciler/src/actions/validate-repository.ts';
import type { ValidationIssue } from '../../../reconciler/src/core/errors.ts';
import { cliVerifier, signatureJson, signatureLines } from '../../../reconciler/src/actions/verify-signatures.ts';
import { loadCommitVerification } from '../../../reconciler/src/config.ts';
import { describeVerdict } from '../../../reconciler/src/core/signatures/verdict.ts';
import { type CommandIo, usageLine } from '../io.ts';

export const HELP = `usage: deployx validate [PATH] [--format text|json|github] [--ref REF]

Validates every *.yaml/*.yml under PATH (default: the current directory).
  --format text    file:line:col: code: message, then a summary (default)
  --format json    a stable machine-readable report
  --format github  GitHub Actions workflow annotations
  --ref REF        validate a commit of the Git repository containing PATH
                   (branch, tag or oid) instead of the working tree

Commit signatures (with --ref; the same flags as deployx serve):
  --trusted-ssh-signers FILE   an SSH allowed_signers file
  --trusted-openpgp-keys FILE  armored OpenPGP public keys (repeat, or comma-separated)
  --verify-commits MODE        off: report the commit's signature (default);
                               head|all: a commit the server would refuse is an error
                               (all checks the head alone here: use deployx plan for a range)

Exit status: 0 valid, 1 invalid (or refused signature), 2 usage or I/O error.`;

const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

export async function runValidate(args: string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        format: { type: 'string', default: 'text' },
        ref: { type: 'string' },
        'verify-commits': { type: 'string' },
        'trusted-ssh-signers': { type: 'string' },
        'trusted-openpgp-keys': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.err(usageLine('validate', (error as Error).message));
    return 2;
  }
  if (parsed.values.help) {
    io.out(HELP);
    return 0;
  }
  const format = parsed.values.format as Format;
  if (!FORMATS.includes(format) || parsed.positionals.length > 1) {
    io.err(usageLine('validate', parsed.positionals.length > 1 ? 'one PATH at most' : `unknown format "${format}"`));
    return 2;
  }
  const given = parsed.positionals[0] ?? '.';
  const root = path.resolve(io.cwd, given);
  if (!existsSync(root)) {
    io.err(`deployx validate: ${given}: no such directory`);
    return 2;
  }
  const toplevel = findGitToplevel(root);
  let location: RepositoryLocation = { kind: 'directory', root };
  if (parsed.values.ref !== undefined) {
    if (toplevel === undefined) {
      io.err(`deployx validate: --ref needs a Git repository, and ${given} is not inside one`);
      return 2;
    }
    const sub = path.relative(toplevel, root).split(path.sep).join('/');
    location = { kind: 'git', dir: toplevel, ref: parsed.values.ref, ...(sub ? { path: sub } : {}) };
  }

  let verification;
  try {
    verification = loadCommitVerification(parsed.values, {}, io.cwd);
  } catch (error) {
    io.err(usageLine('validate', (error as Error).message));
    return 2;
  }
  const wantsSignatures = verification.mode !== 'off' || verification.allowedSignersFile !== undefined || verification.openpgpKeyFiles.length > 0;
  if (wantsSignatures && location.kind !== 'git') {
    io.err('deployx validate: signatures are checked on commits: give --ref REF (a working tree is not signed)');
    return 2;
  }

  let result: RepositoryValidation;
  try {
    const verifier = await cliVerifier(verification);
    result = await validateRepository({ location, ...(verifier ? { verifier } : {}) });
  } catch (error) {
    const code = (error as { code?: string }).code;
    io.err(`deployx validate: ${(error as Error).message}${code ? ` (${code})` : ''}`);
    return 2;
  }

  const display = (file: string): string => path.relative(io.cwd, path.join(root, file)) || file;
  const fromRepo = (file: string): string =>
    toplevel ? path.relative(toplevel, path.join(root, file)).split(path.sep).join('/') : display(file);
  if (format === 'json') io.out(JSON.stringify(jsonReport(result, display), null, 2));
  else if (format === 'github') printGithub(result, fromRepo, io);
  else printText(result, given, display, io);
  const refused = result.signatures !== undefined && !result.signatures.accepted;
  return result.issues.length === 0 && !refused ? 0 : 1;
}

function findGitToplevel(start: string): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

// ---- text ----

function printText(result: RepositoryValidation, given: string, display: (f: string) => string, io: CommandIo): void {
  if (result.signatures) for (const line of signatureLines(result.signatures)) io.out(line);
  for (const warning of result.warnings) {
    io.out(`${display(warning.file)}:${warning.line}:${warning.col}: warning ${warning.code}: ${warning.message}`);
  }
  for (const issue of result.issues) {
    io.out(`${display(issue.file)}:${issue.line}:${issue.col}: ${issue.code}: ${issue.message}`);
  }
  const where = `${result.revision}, ${result.documentCount} documents`;
  if (result.issues.length > 0) {
    const files = new Set(result.issues.map((i) => i.file)).size;
    io.out(`✗ ${plural(result.issues.length, 'error')} in ${plural(files, 'file')} (${where})`);
    return;
  }
  io.out(`✓ ${given} is valid (${where})`);
  const model = result.model!;
  const counts = [
    [model.fleet ? 1 : 0, 'Fleet'],
    [model.groups.size, 'Group'],
    [model.devices.size, 'Device'],
    [model.software.size, 'Software'],
    [model.files.size, 'FileDeployment'],
    [model.scripts.size, 'Script'],
    [model.profiles.size, 'Profile'],
    [model.images.size, 'OSImage'],
  ] as const;
  io.out(`  ${counts.map(([n, kind]) => `${n} ${kind}`).join(', ')}`);
  io.out('  declared devices, compiled before any has reported facts:');
  const states = [...(result.desired?.values() ?? [])];
  const width = Math.max(6, ...states.map((s) => s.device.length));
  for (const state of states) {
    const count = (type: string) => state.resources.filter((r) => r.type === type).length;
    const profiles = state.profiles.map((p) => p.name).join(',') || '-';
    io.out(
      `    ${state.device.padEnd(width)}  ${String(count('package')).padStart(2)} packages ${String(count('file')).padStart(2)} files ${String(count('script')).padStart(2)} scripts  profiles: ${profiles}`,
    );
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// ---- json ----

function jsonReport(result: RepositoryValidation, display: (f: string) => string) {
  return {
    valid: result.issues.length === 0,
    revision: result.revision,
    documents: result.documentCount,
    issues: result.issues.map((i: ValidationIssue) => ({
      file: display(i.file),
      line: i.line,
      col: i.col,
      code: i.code,
      message: i.message,
      path: i.path,
      ...(i.suggestion !== undefined ? { suggestion: i.suggestion } : {}),
    })),
    warnings: result.warnings.map((w: ValidationIssue) => ({ file: display(w.file), line: w.line, col: w.col, code: w.code, message: w.message })),
    ...(result.signatures ? { signatures: signatureJson(result.signatures) } : {}),
    devices: result.desired
      ? [...result.desired.values()].map((s) => ({
          name: s.device,
          profiles: s.profiles.map((p) => p.name),
          groups: s.groups,
          resources: s.resources.map((r) => ({ key: r.key, fingerprint: r.fingerprint })),
        }))
      : [],
  };
}

// ---- github ----

function printGithub(result: RepositoryValidation, fromRepo: (f: string) => string, io: CommandIo): void {
  for (const warning of result.warnings) {
    const props = `file=${escapeProperty(fromRepo(warning.file))},line=${warning.line},col=${warning.col},title=${escapeProperty(`deployx ${warning.code}`)}`;
    io.out(`::warning ${props}::${escapeData(warning.message)}`);
  }
  for (const issue of result.issues) {
    const props = `file=${escapeProperty(fromRepo(issue.file))},line=${issue.line},col=${issue.col},title=${escapeProperty(`deployx ${issue.code}`)}`;
    io.out(`::error ${props}::${escapeData(issue.message)}`);
  }
  for (const verdict of result.signatures?.verdicts ?? []) {
    if (verdict.state === 'verified') io.out(`deployx: ${escapeData(describeVerdict(verdict))}`);
    else io.out(`::${result.signatures!.mode === 'off' ? 'warning' : 'error'} title=${escapeProperty(`deployx signature.${verdict.state}`)}::${escapeData(describeVerdict(verdict))}`);
  }
  io.out(
    result.issues.length === 0
      ? `deployx: ${result.revision} is valid (${result.documentCount} documents)`
      : `deployx: ${plural(result.issues.length, 'error')} in ${result.revision}`,
  );
}

/** Workflow-command escaping, as @actions/core does it. */
function escapeData(s: string): string {
  return s.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

function escapeProperty(s: string): string {
  return escapeData(s).replaceAll(':', '%3A').replaceAll(',', '%2C');
}
