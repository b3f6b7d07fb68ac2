// A fake Exec for programs that cannot run here (choco, winget, dnf, zypper, brew). It records
// every argv it was asked to run, and answers from a responder — which may simulate a package
// database, so the executors' observe → apply → observe logic is exercised end to end.
import type { Exec, ExecOptions, ExecResult } from '../system/exec.ts';

export interface RecordedCall {
  argv: string[];
  options: ExecOptions;
}

export type Responder = (argv: string[], options: ExecOptions) => Partial<ExecResult> | undefined;

export interface RecordingExec {
  exec: Exec;
  calls: RecordedCall[];
  argvs(): string[][];
}

export function recordingExec(responder: Responder = () => undefined): RecordingExec {
  const calls: RecordedCall[] = [];
  const exec: Exec = async (file, args, options = {}) => {
    const argv = [file, ...args];
    calls.push({ argv, options });
    const answer = responder(argv, options) ?? {};
    return {
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      timedOut: false,
      aborted: false,
      durationMs: 0,
      truncated: false,
      ...answer,
    };
  };
  return { exec, calls, argvs: () => calls.map((c) => c.argv) };
}
