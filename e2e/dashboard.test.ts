// The dashboard in a real browser (playwright-core driving Debian's Chromium) against a real
// server (SQLite, a local Git repository), simulated devices speaking the real protocol and one
// real sandboxed agent process. Each test asserts what a person sees on the page, and where it
// matters what the server and the disk hold. Screenshots of every page go to e2e/artifacts/dashboard/.
//
// Skipped only when /usr/bin/chromium is missing (`apt-get install chromium`; .ci/run installs it).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startSimulation, type Simulation } from '../agent/src/simulator/index.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { makeRepo, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { buildDashboard } from '../scripts/build-dashboard.ts';
import { api, PROJECT_ROOT, spawnAgent, startTestServer, tempDir, waitFor, type AgentProcess } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(PROJECT_ROOT, 'e2e', 'artifacts', 'dashboard');
const PASSWORD = 'dashboard e2e password';
const SIMULATED = 12;
const APP_CONF = '/etc/e2e/app.conf';
const WEB_URL = 'https://git.example.com/fleet/blob/{oid}/{path}#L{line}';

interface FleetOptions {
  greeting: string;
  boxDrift: 'report' | 'enforce';
  schemaError?: boolean;
  /** A Device declared in Git that no agent enrolls as. */
  declared?: string;
  /** The web profile's rollout may start only on this weekday, 00:00–00:01 UTC. */
  windowDay?: string;
}

/** Simulated `web` devices roll out in a canary and a manually promoted rest; the real agent is `box`. */
function fleet(o: FleetOptions): FileTree {
  return {
    'fleet.yaml': `apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata:\n  name: dashboard-e2e\nspec:\n  repoWebUrl: "${WEB_URL}"\n`,
    'groups.yaml': `apiVersion: deployx.dev/v1
kind: Group
metadata:
  name: web
spec:
  selector:
    matchLabels: { role: web }
---
apiVersion: deployx.dev/v1
kind: Group
metadata:
  name: box
spec:
  selector:
    matchLabels: { role: box }
`,
    'files.yaml': `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: greeting
spec:
  path: /etc/dx/greeting
  content: ${JSON.stringify(o.greeting)}
  mode: "0644"
---
apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: app-conf
spec:
  path: ${APP_CONF}
  content: "listen = 8080\\n"
  mode: "0640"
`,
    'profiles.yaml': `apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: web
spec:
  targets: [web]
  files: [greeting]
  rollout:
    waves:
      - { name: canary, size: 1 }
      - { name: rest, size: rest, manualPromotion: true }
    retries: 0
${o.windowDay ? `    windows:\n      - { days: [${o.windowDay}], start: "00:00", end: "00:01", timeZone: UTC }\n` : ''}---
apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: box
spec:
  targets: [box]
  files: [app-conf]
  drift: ${o.boxDrift}
${o.schemaError ? '  filez: [oops]\n' : ''}`,
    ...(o.declared
      ? { 'devices.yaml': `apiVersion: deployx.dev/v1\nkind: Device\nmetadata:\n  name: ${o.declared}\n  labels: { role: web }\nspec:\n  macAddresses: ["52:54:00:aa:bb:01"]\n` }
      : {}),
  };
}

/** Polls a locator's text until it matches. */
async function waitText(locator: Locator, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  let last = '';
  try {
    return await waitFor(`${pattern}`, async () => {
      last = (await locator.first().textContent({ timeout: 1000 }).catch(() => null)) ?? '';
      return pattern.test(last) ? last : undefined;
    }, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message} in ${locator}; last text: ${JSON.stringify(last.replace(/\s+/g, ' ').slice(0, 300))}`);
  }
}

async function count(locator: Locator): Promise<number> {
  return locator.count();
}

describe('dashboard in a browser', { timeout: 420_000, skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  let server: RunningServer;
  let port: number;
  let browser: Browser;
  let sim: Simulation | undefined;
  let agent: AgentProcess | undefined;
  let agentRoot: string;
  const contexts: BrowserContext[] = [];
  let options: FleetOptions = { greeting: 'hello v1\n', boxDrift: 'report' };

  const dataDir = () => path.join(work.dir, 'server');
  const start = (p = 0) =>
    startTestServer({
      repo: repo.dir,
      dataDir: dataDir(),
      port: p,
      uiFlushMs: 100,
      statsSampleMs: 1000,
      users: [
        { name: 'otto', role: 'operator', password: PASSWORD },
        { name: 'vera', role: 'viewer', password: PASSWORD },
        { name: 'ada', role: 'admin', password: PASSWORD },
      ],
    });

  async function commit(patch: Partial<FleetOptions>, message: string): Promise<string> {
    options = { ...options, ...patch };
    const oid = await repo.commit(fleet(options), message);
    server.reconciler.enqueueSource();
    return oid;
  }

  async function newPage(colorScheme: 'dark' | 'light' = 'dark'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error('page error:', error.message));
    return page;
  }

  async function login(page: Page, name: string): Promise<void> {
    await page.goto(server.url + '/');
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  }

  const shot = (page: Page, name: string, fullPage = false) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
  const rows = (page: Page) => page.locator('[data-device]');

  before(async () => {
    if (!existsSync(path.join(PROJECT_ROOT, 'dashboard', 'dist', 'index.html'))) await buildDashboard();
    await mkdir(ARTIFACTS, { recursive: true });
    work = await tempDir('deployx-dashboard-');
    repo = await makeRepo(path.join(work.dir, 'repo'), fleet(options));
    server = await start();
    port = Number(new URL(server.url).port);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await sim?.stop();
    await agent?.kill();
    await server?.close();
    await work?.remove();
  });

  let operator: Page;

  test('log in; simulated devices appear live and converge after a commit, promoted by an operator', async () => {
    operator = await newPage();
    await operator.goto(server.url + '/devices');
    await operator.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot(operator, 'login');
    await operator.getByLabel('Name').fill('otto');
    await operator.getByLabel('Password').fill('not the password');
    await operator.getByRole('button', { name: 'Sign in' }).click();
    await waitText(operator.getByRole('alert'), /Wrong name or password/);
    await operator.getByLabel('Password').fill(PASSWORD);
    await operator.getByRole('button', { name: 'Sign in' }).click();
    await operator.getByRole('heading', { name: 'Devices' }).waitFor();
    await waitText(operator.locator('dx-devices .state'), /No devices yet/);
    await operator.evaluate('window.marker = 1');

    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'sim', labels: { role: 'web' } });
    sim = await startSimulation({ server: server.url, agents: SIMULATED, token, stateDir: path.join(work.dir, 'sim'), labels: { role: 'web' }, heartbeatMs: 60_000, backoff: { baseMs: 100, capMs: 1000 } });
    await waitText(operator.getByTestId('device-count'), new RegExp(`^${SIMULATED} devices$`));
    await waitFor('every simulated device in sync on the page', async () => (await count(operator.locator('[data-device][data-state="in_sync"]'))) === SIMULATED);
    const first = (await api<{ current: string }>(server, '/api/v1/revisions')).current;

    const oid = await commit({ greeting: 'hello v2\n' }, 'Greeting v2');
    const short = `main@${oid.slice(0, 7)}`;
    // The canary converges by itself; the rest waits for an operator to promote it.
    await waitFor('the canary on the new revision', async () => (await operator.locator('[data-device="sim-1"]').textContent())?.includes(short));
    await operator.getByRole('link', { name: 'Rollouts' }).click();
    const card = operator.locator('[data-rollout]').first();
    await card.locator('[data-command="promote"]').waitFor();
    await waitText(card.locator('[data-wave="1"]'), /awaiting promotion/);
    await shot(operator, 'rollouts');
    await card.locator('[data-command="promote"]').click();
    await waitText(card.getByRole('status'), /Promoted/);
    await waitText(card.getByTestId('rollout-status'), /completed/, 60_000);

    await operator.getByRole('link', { name: 'Devices' }).click();
    await waitFor('every device on the new revision, in sync', async () => {
      const texts = await operator.locator('[data-device]').allTextContents();
      return texts.length === SIMULATED && texts.every((t) => t.includes(short) && t.includes('In sync'));
    }, 60_000);
    assert.notEqual(first, `main@sha1:${oid}`);
    assert.equal(await operator.evaluate('window.marker'), 1, 'no reload happened');
    for (const d of sim.devices) assert.ok(d.host.files.get('/etc/dx/greeting'), `${d.name} holds the greeting`);
    await shot(operator, 'devices');
    await operator.getByRole('link', { name: 'Overview' }).click();
    await waitText(operator.getByTestId('converged'), /^100 %$/);
    await operator.waitForTimeout(1500); // a few more chart samples
    await shot(operator, 'overview');
  });

  test('an admin reads on the Audit page who promoted the rollout; an operator has no Audit page', async () => {
    assert.equal(await operator.getByRole('link', { name: 'Audit' }).count(), 0, 'no Audit link for an operator');
    const admin = await newPage();
    await login(admin, 'ada');
    await admin.getByRole('link', { name: 'Audit' }).click();
    await admin.getByRole('heading', { name: 'Audit log' }).waitFor();
    const promoted = admin.locator('tr[data-action="rollout.promote"]').first();
    await waitText(promoted, /user\s*otto/);
    assert.match((await promoted.textContent()) ?? '', /success/);
    await waitText(admin.locator('tr[data-action="session.login"]').last(), /failure/);
    await admin.getByLabel('Filter the audit log').fill('revision');
    await waitFor('only revision rows', async () => (await admin.locator('tbody tr').allTextContents()).every((t) => t.includes('revision')));
    await shot(admin, 'audit');
  });

  test('filter the device table by text, label, state and group', async () => {
    await operator.getByRole('link', { name: 'Devices' }).click();
    const search = operator.getByLabel('Search devices');
    await search.fill('sim-1');
    await waitText(operator.getByTestId('device-count'), /^4 of 12 devices$/); // sim-1, sim-10, sim-11, sim-12
    await search.fill('sim-12');
    await waitText(operator.getByTestId('device-count'), /^1 of 12 devices$/);
    assert.deepEqual(await rows(operator).evaluateAll((els) => els.map((e) => e.getAttribute('data-device'))), ['sim-12']);
    assert.match(operator.url(), /\?q=sim-12$/, 'the filter is in the URL');
    await search.fill('');
    await operator.getByLabel('Label').fill('role=box');
    await operator.getByLabel('Label').press('Enter');
    await waitText(operator.locator('dx-devices .state'), /No device matches these filters/);
    await operator.getByLabel('Label').fill('role=web');
    await operator.getByLabel('Label').press('Enter');
    await waitText(operator.getByTestId('device-count'), /^12 devices$/);
    await search.fill('sim-7');
    await waitText(operator.getByTestId('device-count'), /^1 of 12 devices$/);
    assert.deepEqual(await rows(operator).evaluateAll((els) => els.map((e) => e.getAttribute('data-device'))), ['sim-7']);
    await operator.getByRole('button', { name: 'Clear filters' }).first().click();
    await waitText(operator.getByTestId('device-count'), /^12 devices$/);
    await operator.getByLabel('State').selectOption('drifted');
    await waitText(operator.locator('dx-devices .state'), /No device matches these filters/);
    await operator.getByLabel('State').selectOption('in_sync');
    await waitText(operator.getByTestId('device-count'), /^12 devices$|^12 of \d+ devices$/);
    await operator.getByRole('button', { name: 'Clear filters' }).first().click();
    // Sorting by name, descending.
    await operator.getByRole('columnheader', { name: 'Device' }).click();
    await operator.getByRole('columnheader', { name: /Device/ }).click();
    const names = await rows(operator).evaluateAll((els) => els.map((e) => e.getAttribute('data-device')));
    assert.deepEqual(names.slice(0, 3), ['sim-12', 'sim-11', 'sim-10']);
  });

  test('a hand-edited file shows as drift on the device page, then is corrected', async () => {
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'box', labels: { role: 'box' } });
    agentRoot = path.join(work.dir, 'box-root');
    agent = await spawnAgent({ server: server.url, token, stateDir: path.join(work.dir, 'box-state'), root: agentRoot });
    const target = path.join(agentRoot, APP_CONF);
    await waitFor('the agent holding app.conf', async () => (await readFile(target, 'utf8').catch(() => '')) === 'listen = 8080\n', 60_000);

    await waitText(operator.getByTestId('device-count'), /^13 devices$/);
    await waitFor('the box group offered', async () => (await operator.getByLabel('Group').locator('option[value="box"]').count()) === 1);
    await operator.getByLabel('Group').selectOption('box');
    await waitText(operator.getByTestId('device-count'), /^1 of 13 devices$/);
    await rows(operator).first().click();
    await waitText(operator.getByTestId('device-state'), /In sync/);
    const row = operator.locator(`tr[data-key="file/${APP_CONF}"]`);
    assert.equal(await row.getAttribute('data-drift'), 'false');

    await writeFile(target, 'edited by hand\n');
    await waitFor('the drift highlighted', async () => (await row.getAttribute('data-drift')) === 'true', 30_000);
    await waitText(row, /Drifted \(report only\)/);
    await waitText(operator.getByTestId('device-state'), /Drifted/);
    assert.ok((await row.locator('dd.diff').count()) > 0, 'the differing field is marked');
    const color = await row.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
    assert.notEqual(color, 'rgba(0, 0, 0, 0)', 'the drifted row is highlighted');
    await shot(operator, 'device-drifted', true);
    assert.equal(await readFile(target, 'utf8'), 'edited by hand\n', 'drift: report leaves the edit');

    await commit({ boxDrift: 'enforce' }, 'Enforce app.conf');
    await waitFor('the drift corrected on the page', async () => (await row.getAttribute('data-drift')) === 'false', 60_000);
    await waitText(operator.getByTestId('device-state'), /In sync/, 30_000);
    assert.equal(await readFile(target, 'utf8'), 'listen = 8080\n', 'the file on disk is restored');
    await waitText(operator.locator('.job').first(), /Succeeded/);
    await shot(operator, 'device', true);
    // Its hardware in human units, not raw JSON.
    const hardware = operator.getByTestId('hardware');
    await waitText(hardware, /Memory\s*\d+(\.\d)? GiB/);
    assert.doesNotMatch(await hardware.innerText(), /totalBytes|\{"/);

    // The same page on a phone (390 px): nothing wider than the screen, values not one character a line.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    contexts.push(phone);
    const small = await phone.newPage();
    const errors: string[] = [];
    small.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await login(small, 'otto');
    await small.goto(server.url + operator.url().slice(server.url.length));
    await waitText(small.getByTestId('device-state'), /In sync/);
    await small.locator(`tr[data-key="file/${APP_CONF}"] dd`).first().waitFor();
    const widths = await small.evaluate(() => {
      const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return { scroll: doc.scrollWidth, client: doc.clientWidth };
    });
    assert.ok(widths.scroll <= widths.client, `the page overflows at 390 px: ${JSON.stringify(widths)}`);
    const cell = await small.locator(`tr[data-key="file/${APP_CONF}"] dd`).first().boundingBox();
    assert.ok(cell && cell.width > 60, `a desired value gets room to read: ${JSON.stringify(cell)}`);
    await shot(small, 'device-390px', true);
    assert.deepEqual(errors, [], 'no console error');
  });

  test('a rejected revision shows its error with file and line, linked to the repository', async () => {
    const bad = await commit({ schemaError: true }, 'Typo in the box profile');
    options = { ...options, schemaError: false };
    const line = fleet({ ...options, schemaError: true })['profiles.yaml']!.toString().split('\n').findIndex((l) => l.includes('filez')) + 1;
    await operator.getByRole('link', { name: 'Revisions' }).click();
    const rev = operator.locator(`[data-oid="${bad}"]`);
    await waitText(rev, /Rejected/);
    const error = rev.getByTestId('revision-error').first();
    await waitText(error, new RegExp(`^\\s*profiles\\.yaml:${line}(:\\d+)?\\s+schema\\.unknown-key`));
    const href = await error.locator('a').getAttribute('href');
    assert.match(href ?? '', new RegExp(`^https://git\\.example\\.com/fleet/blob/${bad}/profiles\\.yaml#L${line}$`));
    await shot(operator, 'revisions');
    await operator.getByRole('link', { name: 'Overview' }).click();
    await waitText(operator.getByTestId('newest-rejected'), /Rejected/);
  });

  test('a viewer is refused an operator action, by the page and by the server', async () => {
    const oid = await commit({ greeting: 'hello v3\n' }, 'Greeting v3');
    const rollout = await waitFor('a rollout awaiting promotion', async () => {
      const { rollouts } = await api<{ rollouts: Array<{ id: string; revision: string; awaitingPromotion: number | null }> }>(server, '/api/v1/rollouts');
      return rollouts.find((r) => r.revision.endsWith(oid) && r.awaitingPromotion !== null);
    }, 60_000);

    const viewer = await newPage('light');
    await login(viewer, 'vera');
    await viewer.goto(`${server.url}/rollouts/${rollout.id}`);
    const promote = viewer.locator('[data-command="promote"]');
    await promote.waitFor();
    assert.equal(await promote.isDisabled(), true, 'the page does not offer the viewer the button');
    assert.equal(await promote.getAttribute('title'), 'Operators and admins only');
    await shot(viewer, 'rollout-viewer');
    // The server refuses it even when asked directly with the viewer's session and CSRF token.
    const answer = await viewer.evaluate(async (id) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const res = await fetch(`/api/v1/rollouts/${id}/promote`, { method: 'POST', headers: { 'x-csrf-token': session.csrfToken } });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, rollout.id);
    assert.deepEqual([answer.status, answer.body.error.code], [403, 'auth.forbidden']);
    const after = await api<{ awaitingPromotion: number | null; status: string }>(server, `/api/v1/rollouts/${rollout.id}`);
    assert.equal(after.awaitingPromotion, 1, 'still waiting for an operator');
  });

  test('a machine that network-boots unknown shows up on the overview, live, with how to adopt it', async () => {
    await operator.getByRole('link', { name: 'Overview' }).click();
    await operator.getByRole('heading', { name: 'Overview' }).waitFor();
    const mac = '52:54:00:de:ad:01';
    // What iPXE's entry script asks for (the QEMU test does this with real iPXE).
    const res = await fetch(`${server.url}/pxe/boot.ipxe?mac=${encodeURIComponent(mac)}&platform=efi&buildarch=x86_64`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^#!ipxe/);
    const row = operator.locator(`[data-testid="discovered"] [data-mac="${mac}"]`);
    await waitText(row, /UEFI · x86_64/);
    await waitText(row, /waiting: no Device has this MAC/);
    await row.getByText('Adopt').click();
    await waitText(row.locator('pre'), new RegExp(`macAddresses: \\["${mac}"\\]`));
    await shot(operator, 'overview-discovered', true);
  });

  test('the page survives a server restart and stays live', async () => {
    await operator.getByRole('link', { name: 'Rollouts' }).click();
    const card = operator.locator('[data-rollout]').first();
    await card.locator('[data-command="promote"]').waitFor();
    await operator.evaluate('window.marker = 2');

    await server.close();
    await waitText(operator.locator('[data-connection]'), /Reconnecting/);
    await operator.getByText('Connection to the server lost').waitFor();
    await shot(operator, 'reconnecting');
    server = await start(port);
    await waitText(operator.locator('[data-connection]'), /^Live$/, 30_000);
    assert.equal(await operator.evaluate('window.marker'), 2, 'the page was not reloaded');

    // Still signed in, still live: the operator promotes, and the devices converge on the page.
    await waitFor('the simulated devices back', () => server.gateway.connectedCount >= SIMULATED, 60_000);
    await card.locator('[data-command="promote"]').click();
    await waitText(card.getByTestId('rollout-status'), /completed/, 60_000);
    const current = (await api<{ current: string }>(server, '/api/v1/revisions')).current;
    const short = `main@${current.slice(-40, -33)}`;
    await operator.getByRole('link', { name: 'Devices' }).click();
    await operator.getByRole('button', { name: 'Clear filters' }).first().click().catch(() => undefined);
    await waitFor('every simulated device converged after the restart', async () => {
      const texts = await operator.locator('[data-device^="sim-"]').allTextContents();
      return texts.length === SIMULATED && texts.every((t) => t.includes(short) && t.includes('In sync'));
    }, 60_000);
    await operator.locator('dx-notifications button').first().click();
    await operator.getByRole('dialog', { name: 'Notifications' }).waitFor();
    await shot(operator, 'notifications');
  });

  test('a Device declared in Git shows up live as awaiting enrollment, counted, and its page loads without a console error', async () => {
    const errors: string[] = [];
    operator.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await operator.getByRole('link', { name: 'Overview' }).click();
    await operator.getByRole('heading', { name: 'Overview' }).waitFor();
    await commit({ declared: 'web-new-01' }, 'Declare web-new-01');
    await waitText(operator.locator('[data-state="awaiting_enrollment"] .n'), /^1$/);
    await operator.getByRole('link', { name: 'Devices' }).click();
    const row = operator.locator('[data-device="web-new-01"]');
    await waitText(row, /Awaiting enrollment/);
    await waitText(operator.getByTestId('device-count'), new RegExp(`^${SIMULATED + 2} devices$|^\\d+ of ${SIMULATED + 2} devices$`));
    // A group in the URL that no device is in is shown as such, not dropped.
    await operator.goto(server.url + '/devices?group=awaiting-enrollment');
    await waitText(operator.getByLabel('Group').locator('option:checked'), /^awaiting-enrollment \(no device is in it\)$/);
    await operator.goto(server.url + '/devices/web-new-01');
    await waitText(operator.getByTestId('device-state'), /Awaiting enrollment/);
    await operator.getByText('declared in devices.yaml; no agent has enrolled as web-new-01 yet').waitFor();
    await operator.getByTestId('not-provisioned').waitFor();
    await shot(operator, 'device-awaiting-enrollment', true);
    assert.deepEqual(errors, [], 'no console error');
  });

  test('a commit outside the maintenance windows shows on the rollout page why it waits and until when', async () => {
    // A window on another weekday than today's, one minute long: closed now, whatever the time.
    const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const windowDay = days[(new Date().getUTCDay() + 2) % 7]!;
    const oid = await commit({ greeting: 'hello v4\n', windowDay }, 'Greeting v4, in the window only');
    await operator.goto(server.url + '/rollouts');
    const rollout = await waitFor('the rollout of v4', async () => {
      const { rollouts } = await api<{ rollouts: Array<{ id: string; revision: string }> }>(server, '/api/v1/rollouts');
      return rollouts.find((r) => r.revision.endsWith(oid));
    });
    const card = operator.locator(`[data-rollout="${rollout.id}"]`);
    const text = await waitText(card.getByTestId('rollout-waiting'), /outside its maintenance windows; wave 1 \(canary\) starts when one opens: \w{3} 00:00 UTC \(\d{4}-\d\d-\d\dT00:00:00\.000Z\) — .* your time, in \d+ (h|days)/);
    assert.match(text, new RegExp(`^outside its maintenance windows; wave 1 \\(canary\\) starts when one opens: ${windowDay[0]!.toUpperCase()}${windowDay.slice(1)} 00:00 UTC`));
    await waitText(card.locator('[data-wave="0"]'), /waiting/);
    await shot(operator, 'rollout-window-closed', true);
    await operator.getByRole('link', { name: 'Overview' }).click();
    await waitText(operator.locator(`dx-overview [data-rollout="${rollout.id}"] [data-testid="rollout-waiting"]`), /outside its maintenance windows/);

    // A viewer is not offered Start now; the server refuses it too.
    const viewer = await newPage('light');
    await login(viewer, 'vera');
    await viewer.goto(`${server.url}/rollouts/${rollout.id}`);
    const viewerButton = viewer.locator('[data-command="start-now"]');
    await viewerButton.waitFor();
    assert.equal(await viewerButton.isDisabled(), true);
    const refused = await viewer.evaluate(async (id) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const res = await fetch(`/api/v1/rollouts/${id}/start-now`, { method: 'POST', headers: { 'x-csrf-token': session.csrfToken, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'me' }) });
      return res.status;
    }, rollout.id);
    assert.equal(refused, 403);

    // The operator starts the canary now, with a reason; it runs outside the window, and the audit log says why.
    await operator.goto(`${server.url}/rollouts/${rollout.id}`);
    operator.once('dialog', (dialog) => void dialog.accept('hotfix, cannot wait'));
    await operator.locator('[data-command="start-now"]').click();
    await waitText(operator.locator(`[data-rollout="${rollout.id}"] [data-wave="0"]`), /done 1\/1/, 60_000);
    const { entries } = await api<{ entries: Array<{ action: string; target: string; details: { reason?: string } }> }>(server, '/api/v1/audit?limit=20');
    const entry = entries.find((e) => e.action === 'rollout.start-now' && e.target === `rollout:${rollout.id}`);
    assert.equal(entry?.details.reason, 'hotfix, cannot wait');
  });

  test('every page loads without a console error; an admin revokes a device from its page and is told what happened', async () => {
    const admin = await newPage();
    const errors: string[] = [];
    admin.on('console', (message) => {
      if (message.type() === 'error') errors.push(`${admin.url()}: ${message.text()}`);
    });
    await login(admin, 'ada');
    const { rollouts } = await api<{ rollouts: Array<{ id: string }> }>(server, '/api/v1/rollouts');
    for (const [page, heading] of [
      ['/', 'Overview'],
      ['/devices', 'Devices'],
      ['/devices/sim-3', 'sim-3'],
      ['/devices/web-new-01', 'web-new-01'],
      ['/revisions', 'Revisions'],
      ['/rollouts', 'Rollouts'],
      [`/rollouts/${rollouts[0]!.id}`, undefined],
      ['/audit', 'Audit'],
    ] as const) {
      await admin.goto(server.url + page);
      if (heading) await admin.getByRole('heading', { name: heading }).first().waitFor();
      else await admin.locator('[data-rollout]').first().waitFor();
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.deepEqual(errors, [], 'no console error on any page');

    // Revoke: the agent is disconnected, the page says so in words, and the device leaves the list.
    await admin.goto(server.url + '/devices/sim-12');
    await waitText(admin.getByTestId('device-state'), /In sync|Converging|Drifted/);
    admin.once('dialog', (dialog) => void dialog.accept());
    await admin.getByTestId('revoke').click();
    await admin.getByText('Revoked: sim-12 was removed and its agent disconnected. It must enroll again with a new token.').waitFor();
    // (The simulator enrolls it again with its token, as a real agent would: the audit log says what the admin did.)
    const { entries } = await api<{ entries: Array<{ actor: string; action: string; target: string; outcome: string }> }>(server, '/api/v1/audit?limit=20');
    assert.ok(entries.some((e) => e.action === 'device.delete' && e.target === 'device:sim-12' && e.actor === 'user:ada' && e.outcome === 'success'), JSON.stringify(entries.slice(0, 5)));
    // An operator is not offered the button.
    await operator.goto(server.url + '/devices/sim-11');
    await waitText(operator.getByTestId('device-state'), /In sync|Converging|Drifted/);
    assert.equal(await operator.getByTestId('revoke').count(), 0);
  });
});
