// The task sequence a boot environment runs: the profile's ordered provisioning tasks, resolved
// against the revision (scripts to their SHA-256, images to their artifacts) and joined with what
// the runner needs to bootstrap the agent. Pure; the HTTP layer serves it as JSON (PowerShell
// runner) or as tab-separated lines (POSIX sh runner, which has no JSON parser in a d-i initrd).
import type { Interpreter, ProfileDoc, ProvisioningTaskType } from '../../../../schemas/kinds.ts';
import type { FleetModel } from '../model.ts';
import { sha256Hex } from '../sha256.ts';
import { normaliseRepoPath } from '../validate/semantic-check.ts';

export interface RunnerTask {
  index: number;
  type: ProvisioningTaskType;
  name: string;
  continueOnError: boolean;
  layout?: string;
  disk?: string;
  /** run-script: the body to download (`/pxe/v1/artifacts/sha256/<sha256>`) and how to run it. */
  script?: { name: string; interpreter: Interpreter; sha256: string; timeoutSeconds: number };
  /** apply-image: the install image the runner applies itself (Windows WIM; Ubuntu's ISO is the installer's). */
  image?: { sha256: string; size?: number };
}

export interface TaskSequence {
  deviceId: string;
  hostname: string;
  server: string;
  /** One-time agent enrollment token bound to `deviceId`. */
  enrollmentToken: string;
  installer: string;
  tasks: RunnerTask[];
}

export function compileTaskSequence(
  model: FleetModel,
  profile: ProfileDoc,
  ctx: { deviceId: string; hostname: string; server: string; enrollmentToken: string },
): TaskSequence {
  const provisioning = profile.spec.provisioning!;
  const image = model.images.get(provisioning.image)!.doc;
  const tasks = provisioning.tasks.map((task, index): RunnerTask => {
    const out: RunnerTask = {
      index,
      type: task.type,
      name: oneLine(task.name ?? task.type),
      continueOnError: task.continueOnError ?? false,
    };
    if (task.layout !== undefined) out.layout = task.layout;
    if (task.disk !== undefined) out.disk = task.disk;
    if (task.type === 'run-script' && task.script !== undefined) {
      const script = model.scripts.get(task.script)!.doc.spec;
      out.script = {
        name: task.script,
        interpreter: script.interpreter,
        sha256: scriptSha256(model, script.source, script.content),
        timeoutSeconds: script.timeoutSeconds ?? 600,
      };
    }
    if (task.type === 'apply-image' && image.spec.installer === 'windows-wim' && image.spec.image) {
      out.image = { sha256: image.spec.image.sha256, ...(image.spec.image.size !== undefined ? { size: image.spec.image.size } : {}) };
    }
    return out;
  });
  return { ...ctx, installer: image.spec.installer, tasks };
}

/** The SHA-256 of every body a run may download: its boot artifacts, install image and scripts. */
export function runArtifacts(model: FleetModel, profile: ProfileDoc): Set<string> {
  const provisioning = profile.spec.provisioning!;
  const image = model.images.get(provisioning.image)!.doc.spec;
  const out = new Set<string>();
  for (const a of [image.kernel, image.initrd, image.wimboot, image.bootWim, image.image]) if (a) out.add(a.sha256);
  for (const task of provisioning.tasks) {
    if (task.type !== 'run-script' || task.script === undefined) continue;
    const script = model.scripts.get(task.script)?.doc.spec;
    if (script) out.add(scriptSha256(model, script.source, script.content));
  }
  return out;
}

function scriptSha256(model: FleetModel, source: string | undefined, content: string | undefined): string {
  if (content !== undefined) return sha256Hex(new TextEncoder().encode(content));
  const path = source === undefined ? undefined : normaliseRepoPath(source);
  const file = path === undefined ? undefined : model.repoFiles.get(path);
  if (!file) throw new Error(`script source ${source} is not in the revision`);
  return file.sha256;
}

/**
 * The sh runner's format: one record per line, fields separated by TAB, `-` for an empty field.
 *   deployx-tasks  1
 *   device   <id>          hostname <name>       server <url>       enroll <token>
 *   task     <index> <type> <continueOnError 0|1> <layout> <disk> <sha256> <interpreter> <timeout> <name…>
 * The name is last so it may hold spaces; tabs and newlines are removed from every field.
 */
export function renderTaskLines(seq: TaskSequence): string {
  const f = (v: string | number | undefined) => (v === undefined || v === '' ? '-' : oneLine(String(v)).replaceAll('\t', ' '));
  const lines = [
    ['deployx-tasks', '1'],
    ['device', f(seq.deviceId)],
    ['hostname', f(seq.hostname)],
    ['server', f(seq.server)],
    ['enroll', f(seq.enrollmentToken)],
    ['installer', f(seq.installer)],
    ...seq.tasks.map((t) => [
      'task',
      String(t.index),
      t.type,
      t.continueOnError ? '1' : '0',
      f(t.layout),
      f(t.disk),
      f(t.script?.sha256 ?? t.image?.sha256),
      f(t.script?.interpreter),
      f(t.script?.timeoutSeconds),
      f(t.name),
    ]),
  ];
  return lines.map((l) => l.join('\t')).join('\n') + '\n';
}

function oneLine(text: string): string {
  return text.replace(/[\r\n\t\x00-\x1f\x7f]+/g, ' ').trim();
}
