import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadServerConfig } from './config.ts';

test('DEPLOYX_PUBLIC_URL: an http(s) base URL, trailing slash dropped; anything else refused', () => {
  const load = (value: string | undefined) => loadServerConfig({ repo: '/srv/fleet' }, { ...(value === undefined ? {} : { DEPLOYX_PUBLIC_URL: value }) }, '/');
  assert.equal(load(undefined).publicUrl, undefined);
  assert.equal(load('http://deployx.corp:8080/').publicUrl, 'http://deployx.corp:8080');
  assert.equal(load('https://fleet.example/deployx').publicUrl, 'https://fleet.example/deployx');
  for (const bad of ['deployx.corp', 'ftp://x', 'http://user:pw@x', 'http://x/?a=1']) {
    assert.throws(() => load(bad), ConfigError, bad);
  }
});

test('the dashboard is served from dashboard/dist unless DEPLOYX_DASHBOARD_DIR says otherwise', () => {
  assert.match(loadServerConfig({ repo: '/r' }, {}, '/').dashboardDir!, /dashboard\/dist$/);
  assert.equal(loadServerConfig({ repo: '/r' }, { DEPLOYX_DASHBOARD_DIR: 'ui' }, '/srv').dashboardDir, '/srv/ui');
});
