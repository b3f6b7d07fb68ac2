// The dashboard (issue 5): bundle size, first render of the devices page with 10,000 devices, and
// the browser's frame rate while those 10,000 devices report at once.
//
// Honest setup: a real server in this process (SQLite file, local Git repository) with N real
// simulated devices (`deployx simulate` child processes speaking the agent protocol, enrolled and
// converged before anything is measured); Debian's Chromium (headless, playwright-core) loads the
// built bundle from that server. "First render" is navigation start → the first animation frame
// in which the table shows its rows and "10000 devices" (the page fetched all 10,000 rows over
// REST and rendered the visible ones), median of 3 loads. The frame rate counts
// requestAnimationFrame callbacks in the page for FPS_SECONDS while every device reports at once
// (SIGUSR2 to the simulators) and the page scrolls the table by one row per frame, so each
// batched `devices` delta re-filters, re-sorts and re-renders under a moving viewport.
//
// DEPLOYX_BENCH_DASHBOARD_AGENTS=1000 for a smaller run. Skipped (with a row saying so) when
// /usr/bin/chromium is missing.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { makeRepo, makeTempDir, removeDir } from '../reconciler/src/edges/git/test-repo.ts';
import { buildDashboard, GZIP_BUDGET_BYTES } from '../scripts/build-dashboard.ts';
import { startTestServer } from '../e2e/harness.ts';
import type { BenchResult } from './measure.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../cli/bin/deployx.js');
const SIMULATORS = 5;
const FPS_SECONDS = 10;
const PASSWORD = 'bench dashboard password';

const FLEET = {
  'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata: { name: bench }\nspec: {}\n',
  'groups.yaml': 'apiVersion: deployx.dev/v1\nkind: Group\nmetadata: { name: all }\nspec:\n  selector: { matchLabels: { bench: "yes" } }\n',
  'files.yaml': 'apiVersion: deployx.dev/v1\nkind: FileDeployment\nmetadata: { name: motd }\nspec:\n  path: /etc/motd\n  content: "hello\\n"\n',
  'profiles.yaml': 'apiVersion: deployx.dev/v1\nkind: Profile\nmetadata: { name: base }\nspec:\n  targets: [all]\n  files: [motd]\n',
};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The devices page's footer text, through both shadow roots. */
const COUNT_TEXT = `(() => {
  const app = document.querySelector('dx-app');
  const page = app && app.shadowRoot && app.shadowRoot.querySelector('dx-devices');
  const el = page && page.shadowRoot && page.shadowRoot.querySelector('[data-testid="device-count"]');
  const rows = page && page.shadowRoot ? page.shadowRoot.querySelectorAll('[data-device]').length : 0;
  return el && rows > 0 ? el.textContent : '';
})()`;

async function firstRender(page: Page, url: string, agents: number): Promise<{ total: number; fetchMs: number }> {
  await page.goto(url, { waitUntil: 'commit' });
  const total = (await (
    await page.waitForFunction(`(${COUNT_TEXT}) === '${agents} devices' ? performance.now() : false`, undefined, { polling: 'raf', timeout: 60_000 })
  ).jsonValue()) as number;
  const fetchMs = (await page.evaluate(
    `Math.max(0, ...performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/devices?')).map((e) => e.responseEnd - e.startTime))`,
  )) as number;
  return { total, fetchMs };
}

export async function benchDashboard(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const built = await buildDashboard();
  results.push({
    name: 'dashboard: bundle (app.js + index.html), gzipped',
    value: built.gzipBytes / 1024,
    unit: 'KB',
    target: `≤ ${GZIP_BUDGET_BYTES / 1024} KB`,
    detail: `${(built.bytes / 1024).toFixed(1)} KB minified, esbuild ${Math.round(built.ms)} ms; lit + socket.io-client + the app`,
  });
  if (!existsSync(CHROMIUM)) {
    results.push({ name: 'dashboard: browser figures', value: NaN, unit: '', target: '—', detail: `skipped: ${CHROMIUM} is missing` });
    return results;
  }

  const agents = Number(process.env.DEPLOYX_BENCH_DASHBOARD_AGENTS ?? 10_000);
  const dir = await makeTempDir('deployx-bench-dashboard-');
  const children: ChildProcess[] = [];
  const repo = await makeRepo(path.join(dir, 'repo'), FLEET);
  const server = await startTestServer({ repo: repo.dir, dataDir: path.join(dir, 'server'), users: [{ name: 'bench', role: 'admin', password: PASSWORD }] });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    server.reconciler.enqueueSource();
    await until('the first revision', () => server.reconciler.revision !== undefined, 30_000);
    const started = performance.now();
    for (let s = 0; s < SIMULATORS; s++) {
      const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: `s${s}`, labels: { bench: 'yes' } });
      const args = [CLI, 'simulate', '--server', server.url, '--agents', String(Math.ceil(agents / SIMULATORS)), '--token', token, '--prefix', `s${s}`];
      args.push('--heartbeat', '1h', '--state', path.join(dir, `sim-${s}`), '--stats-every', '0s', '--batch', '100');
      children.push(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    const total = Math.ceil(agents / SIMULATORS) * SIMULATORS;
    const inSync = () => [...server.reconciler.statuses.values()].filter((st) => st.state === 'in_sync').length;
    await until(`${total} devices in sync`, () => inSync() >= total, 900_000);
    const convergedS = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 2000));

    // bypassCSP: the string predicates below are evaluated with `new Function`, which the page's CSP forbids.
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark', bypassCSP: true });
    const page = await context.newPage();
    const login = await page.request.post(`${server.url}/api/v1/session`, { data: { name: 'bench', password: PASSWORD } });
    if (!login.ok()) throw new Error(`bench: login failed: HTTP ${login.status()}`);

    const loads: Array<{ total: number; fetchMs: number }> = [];
    for (let i = 0; i < 3; i++) loads.push(await firstRender(page, `${server.url}/devices`, total));
    const median = [...loads].sort((a, b) => a.total - b.total)[1]!;
    results.push({
      name: `dashboard: devices page first render, ${total.toLocaleString('en')} devices`,
      value: median.total,
      unit: 'ms',
      target: '≤ 1000 ms',
      detail: `navigation → first frame showing the rows and "${total} devices", median of 3 (${loads.map((l) => Math.round(l.total)).join(', ')} ms); of which GET /api/v1/devices?limit=10000 took ${Math.round(median.fetchMs)} ms; real server, ${total} simulated devices enrolled and converged in ${convergedS.toFixed(0)} s`,
    });

    // Frame rate while every device reports at once.
    await page.evaluate(`(() => {
      const app = document.querySelector('dx-app');
      const scroller = app.shadowRoot.querySelector('dx-devices').shadowRoot.querySelector('.scroller');
      const state = { frames: 0, longest: 0, last: performance.now(), start: performance.now(), until: performance.now() + ${FPS_SECONDS * 1000}, versions: app.data.devicesVersion };
      window.__fps = state;
      const tick = (now) => {
        state.frames++;
        state.longest = Math.max(state.longest, now - state.last);
        state.last = now;
        scroller.scrollTop += 40;
        if (now < state.until) requestAnimationFrame(tick); else { state.end = now; state.versions = app.data.devicesVersion - state.versions; }
      };
      requestAnimationFrame(tick);
    })()`);
    server.gateway.resetIngestStats();
    for (const child of children) child.kill('SIGUSR2');
    await until('the measuring window', async () => (await page.evaluate('window.__fps.end !== undefined')) as boolean, (FPS_SECONDS + 30) * 1000);
    const fps = (await page.evaluate('window.__fps')) as { frames: number; longest: number; start: number; end: number; versions: number };
    const seconds = (fps.end - fps.start) / 1000;
    const stored = server.gateway.ingest.reportsStored;
    results.push({
      name: `dashboard: frame rate while ${total.toLocaleString('en')} devices report`,
      value: fps.frames / seconds,
      unit: 'fps',
      target: '≥ 50 fps (smooth)',
      detail: `${fps.frames} frames in ${seconds.toFixed(1)} s while scrolling one row per frame; longest frame ${Math.round(fps.longest)} ms; ${fps.versions} device delta batches applied; ${stored} reports stored by the server in the window`,
    });
    await context.close();
  } finally {
    await browser.close();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await server.close();
    await removeDir(dir);
  }
  return results;
}
