// For plan tests: a real git repository holding the example fleet under `fleet-repo-example/`,
// with a branch `web-1.26` one commit ahead of `main` that changes one profile and one group the
// way a pull request would:
//   - Software nginx: version 1.24.* → 1.26.*
//   - Profile web-server: gains FileDeployment nginx-security-headers (a new repository file),
//     drops the ufw package (prune: false → left in place)
//   - Group web-servers: selector narrowed to env: prod (an enrolled staging box leaves it)
// Commits use test-repo.ts's fixed identity and clock, so their oids depend on the content only.
import { cp, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRepo, runGit, type FileTree } from '../edges/git/test-repo.ts';

export const EXAMPLE_FLEET = fileURLToPath(new URL('../../../fleet-repo-example/', import.meta.url));
export const FLEET_PATH = 'fleet-repo-example';
export const INVENTORY_FILE = fileURLToPath(new URL('../core/plan/golden/inventory.json', import.meta.url));

export interface PlanRepo {
  dir: string;
  /** Full oids of the two commits. */
  base: string;
  head: string;
}

/** Builds the repository in `dir` (which must be empty or missing). */
export async function makePlanRepo(dir: string): Promise<PlanRepo> {
  // Dot-directories (.github) are left out: the loader skips them, and the oids stay independent of them.
  await cp(EXAMPLE_FLEET, join(dir, FLEET_PATH), { recursive: true, filter: (src) => !basename(src).startsWith('.') });
  const repo = await makeRepo(dir, { 'README.md': '# infrastructure\n' });
  const base = repo.first;
  await runGit(dir, ['checkout', '--quiet', '-b', 'web-1.26']);
  const head = await repo.commit(await exampleChange(dir), 'web: nginx 1.26, security headers; web-servers: production only');
  await runGit(dir, ['checkout', '--quiet', 'main']);
  return { dir, base, head };
}

async function exampleChange(dir: string): Promise<FileTree> {
  const read = (path: string) => readFile(join(dir, FLEET_PATH, path), 'utf8');
  const at = (path: string) => `${FLEET_PATH}/${path}`;
  return {
    [at('software/web.yaml')]: replaceOnce(await read('software/web.yaml'), 'version: "1.24.*"', 'version: "1.26.*"'),
    [at('files/nginx/conf.d/security-headers.conf')]:
      '# Managed by DeployX (profiles/web-server.yaml).\n' +
      'add_header X-Content-Type-Options nosniff always;\n' +
      'add_header Referrer-Policy strict-origin-when-cross-origin always;\n' +
      'add_header Strict-Transport-Security "max-age=31536000" always;\n',
    [at('deployments/web.yaml')]:
      (await read('deployments/web.yaml')) +
      [
        '---',
        'apiVersion: deployx.dev/v1',
        'kind: FileDeployment',
        'metadata:',
        '  name: nginx-security-headers',
        'spec:',
        '  description: Security headers for every virtual host.',
        '  path: /etc/nginx/conf.d/security-headers.conf',
        '  source: files/nginx/conf.d/security-headers.conf',
        '  mode: "0644"',
        '  owner: root',
        '  group: root',
        '',
      ].join('\n'),
    [at('profiles/web-server.yaml')]: replaceOnce(
      replaceOnce(await read('profiles/web-server.yaml'), '    - ufw\n', ''),
      '    - nginx-site-contoso\n',
      '    - nginx-site-contoso\n    - nginx-security-headers\n',
    ),
    [at('groups/servers.yaml')]: replaceOnce(
      await read('groups/servers.yaml'),
      '  selector:\n    matchLabels:\n      role: web\n---',
      '  selector:\n    matchLabels:\n      role: web\n      env: prod\n---',
    ),
  };
}

/** Fails loudly when the example fleet no longer reads the way the change expects. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`test-plan-repo: expected exactly one ${JSON.stringify(from)} in the example fleet`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}
