// A small fleet for whole-system tests: files and scripts only (real agents run on this machine,
// so nothing here installs packages or touches anything outside an agent's --root).
import type { FileTree } from '../reconciler/src/edges/git/test-repo.ts';

export interface TestFleetOptions {
  drift?: 'enforce' | 'report';
  appConf?: string;
  motd?: string;
  /** Breaks the schema: an unknown key in the profile. */
  schemaError?: boolean;
  /** The script sleeps this long between recording its start and its end. */
  scriptSeconds?: number;
  /** A generic webhook notifier whose URL is the server-side secret of this name. */
  webhookSecret?: string;
}

export function testFleet(options: TestFleetOptions = {}): FileTree {
  return {
    'fleet.yaml': `apiVersion: deployx.dev/v1
kind: Fleet
metadata:
  name: e2e
spec:
  drift: enforce
${options.webhookSecret ? `  notifiers:\n    - name: ops\n      type: webhook\n      urlSecret: ${options.webhookSecret}\n` : ''}`,
    'groups.yaml': `apiVersion: deployx.dev/v1
kind: Group
metadata:
  name: web
spec:
  selector:
    matchLabels: { role: web }
`,
    'files/app.conf': options.appConf ?? 'listen = 8080\nworkers = 4\n',
    'deployments.yaml': `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: app-conf
spec:
  path: /etc/e2e/app.conf
  source: files/app.conf
  mode: "0640"
---
apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: motd
spec:
  path: /etc/e2e/motd
  content: ${JSON.stringify(options.motd ?? 'Managed by DeployX\n')}
  mode: "0644"
`,
    'scripts/mark.sh':
      '#!/bin/sh\nset -eu\nmkdir -p "$DEPLOYX_ROOT/var/lib/e2e"\n' +
      (options.scriptSeconds ? `echo started >> "$DEPLOYX_ROOT/var/lib/e2e/started"\nsleep ${options.scriptSeconds}\n` : '') +
      'echo "ran $(cat "$DEPLOYX_ROOT/etc/e2e/app.conf" | wc -l)" >> "$DEPLOYX_ROOT/var/lib/e2e/marker"\n',
    'scripts.yaml': `apiVersion: deployx.dev/v1
kind: Script
metadata:
  name: mark
spec:
  interpreter: sh
  source: scripts/mark.sh
  run: onChange
  timeoutSeconds: 30
`,
    'profiles.yaml': `apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: web
spec:
  targets: [web]
  files: [app-conf, motd]
  scripts: [mark]
  drift: ${options.drift ?? 'enforce'}
${options.schemaError ? '  filez: [oops]\n' : ''}`,
  };
}
