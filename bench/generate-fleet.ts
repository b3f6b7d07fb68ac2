// A generated fleet repository for benchmarks: N devices, groups, software items and file
// deployments with repository sources, spread over files the way a large team would keep them
// (one file per site or per team, not one file per object).
import type { FileTree } from '../reconciler/src/edges/git/test-repo.ts';

export interface FleetSize {
  devices: number;
  groups: number;
  software: number;
  files: number;
  profiles: number;
  /** Documents per YAML file. */
  perFile: number;
}

export const LARGE_FLEET: FleetSize = { devices: 10_000, groups: 500, software: 1_000, files: 2_000, profiles: 100, perFile: 100 };

const SITES = ['ams', 'fra', 'lon', 'nyc', 'sfo', 'sin', 'syd', 'tok', 'gru', 'jnb'];
const ROLES = ['web', 'db', 'cache', 'queue', 'batch'];

const pad = (n: number, width = 5) => String(n).padStart(width, '0');

export function generateFleet(size: FleetSize): FileTree {
  const tree: FileTree = {};
  const chunked = (prefix: string, docs: string[]) => {
    for (let i = 0; i < docs.length; i += size.perFile) {
      tree[`${prefix}-${pad(i / size.perFile, 3)}.yaml`] = docs.slice(i, i + size.perFile).join('---\n');
    }
  };

  tree['fleet.yaml'] = `apiVersion: deployx.dev/v1
kind: Fleet
metadata:
  name: bench
spec:
  drift: enforce
  rollout:
    waves: [{ size: 1 }, { size: "10%" }, { size: rest }]
    failureThreshold: "10%"
`;

  chunked(
    'devices/devices',
    Array.from({ length: size.devices }, (_, i) => {
      const site = SITES[i % SITES.length]!;
      const role = ROLES[Math.floor(i / SITES.length) % ROLES.length]!;
      const mac = [0x52, 0x54, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x01].map((b) => b.toString(16).padStart(2, '0')).join(':');
      return `apiVersion: deployx.dev/v1
kind: Device
metadata:
  name: ${role}-${site}-${pad(i)}
  labels: { site: ${site}, role: ${role}, shard: s${i % (size.groups / 2)} }
spec:
  macAddresses: ["${mac}"]
`;
    }),
  );

  // Half the groups select a shard by label, the other half a site+role pair plus a fact.
  chunked(
    'groups/groups',
    Array.from({ length: size.groups }, (_, g) => {
      if (g < size.groups / 2) {
        return `apiVersion: deployx.dev/v1
kind: Group
metadata: { name: shard-${g} }
spec:
  selector: { matchLabels: { shard: s${g} } }
`;
      }
      const k = g - size.groups / 2;
      return `apiVersion: deployx.dev/v1
kind: Group
metadata: { name: g-${k} }
spec:
  selector:
    matchLabels: { site: ${SITES[k % SITES.length]}, role: ${ROLES[Math.floor(k / SITES.length) % ROLES.length]} }
    matchFacts: [{ key: os.family, operator: In, values: [debian, ubuntu] }]
`;
    }),
  );

  chunked(
    'software/software',
    Array.from({ length: size.software }, (_, s) => `apiVersion: deployx.dev/v1
kind: Software
metadata: { name: pkg-${s} }
spec:
  packages: { apt: pkg-${s}, dnf: pkg-${s}, choco: pkg-${s} }
  version: "1.${s % 7}.*"
`),
  );

  chunked(
    'deployments/files',
    Array.from({ length: size.files }, (_, f) => `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata: { name: file-${f} }
spec:
  path: /etc/bench/file-${f}.conf
  source: payload/file-${f}.conf
  mode: "0644"
`),
  );
  for (let f = 0; f < size.files; f++) {
    tree[`payload/file-${f}.conf`] = `# generated payload ${f}\nkey = value-${f}\n${'x'.repeat(200 + (f % 300))}\n`;
  }

  // Each profile targets 5 groups and carries 10 software items and 20 files.
  chunked(
    'profiles/profiles',
    Array.from({ length: size.profiles }, (_, p) => {
      const targets = Array.from({ length: 5 }, (_, t) => (t % 2 ? `shard-${(p * 5 + t) % (size.groups / 2)}` : `g-${(p * 5 + t) % (size.groups / 2)}`));
      const software = Array.from({ length: 10 }, (_, s) => `pkg-${(p * 10 + s) % size.software}`);
      const files = Array.from({ length: 20 }, (_, f) => `file-${(p * 20 + f) % size.files}`);
      return `apiVersion: deployx.dev/v1
kind: Profile
metadata: { name: profile-${p} }
spec:
  targets: [${targets.join(', ')}]
  software: [${software.join(', ')}]
  files: [${files.join(', ')}]
`;
    }),
  );
  return tree;
}
