// Facts an agent reports about its device. Group selectors (`matchFacts`) address them by dotted
// path (`os.family`, `network.macs`); an array fact matches when any element does.
import type { PackageManager } from './kinds.ts';

export interface Facts {
  hostname?: string;
  os?: {
    /** `debian`, `ubuntu`, `rhel`, `fedora`, `suse`, `windows`, `darwin`, ... */
    family?: string;
    name?: string;
    version?: string;
    kernel?: string;
    /** The manager the agent installs packages with on this device. */
    packageManager?: PackageManager;
  };
  arch?: string;
  cpu?: { model?: string; count?: number };
  memory?: { totalBytes?: number };
  disks?: Array<{ mount: string; totalBytes: number; freeBytes: number }>;
  network?: { ips?: string[]; macs?: string[] };
  /** The machine, when the agent can read it (Linux: /sys/class/dmi/id; the serial needs root). */
  hardware?: { vendor?: string; model?: string; serial?: string };
  agent?: {
    version?: string;
    /** The agent is confined to a directory (`deployx agent --root`): no package manager. */
    sandbox?: boolean;
  };
  [key: string]: unknown;
}
