// One adapter per package manager, chosen by the Step's `manager`.
import type { PackageManager } from '../../../../schemas/kinds.ts';
import { AgentError } from '../../errors.ts';
import type { Exec } from '../../system/exec.ts';
import type { PackageAdapter } from './adapter.ts';
import { createAptAdapter } from './apt.ts';
import { createBrewAdapter } from './brew.ts';
import { createChocoAdapter } from './choco.ts';
import { createDnfAdapter, createYumAdapter } from './dnf.ts';
import { createWingetAdapter } from './winget.ts';
import { createZypperAdapter } from './zypper.ts';

export type { PackageAdapter, PackageOpResult, PackageState } from './adapter.ts';
export { versionSatisfies, parseVersionRule } from './version-rule.ts';

export interface PackageAdaptersOptions {
  exec: Exec;
  timeoutMs?: number;
  apt?: { dpkgRoot?: string; lockTimeoutSeconds?: number };
  /** Managers this agent may use; all when absent. */
  enabled?: readonly PackageManager[];
}

/** `(manager) → adapter`, built once per agent; unknown or disabled managers throw. */
export function createPackageAdapters(options: PackageAdaptersOptions): (manager: PackageManager) => PackageAdapter {
  const base = { exec: options.exec, timeoutMs: options.timeoutMs };
  const adapters: Record<PackageManager, PackageAdapter> = {
    apt: createAptAdapter({ ...base, ...options.apt }),
    dnf: createDnfAdapter(base),
    yum: createYumAdapter(base),
    zypper: createZypperAdapter(base),
    choco: createChocoAdapter(base),
    winget: createWingetAdapter(base),
    brew: createBrewAdapter(base),
  };
  return (manager) => {
    const adapter = Object.hasOwn(adapters, manager) ? adapters[manager] : undefined;
    if (adapter === undefined || (options.enabled !== undefined && !options.enabled.includes(manager))) {
      throw new AgentError('package.manager-unsupported', `package manager ${String(manager)} is not enabled on this agent`);
    }
    return adapter;
  };
}
