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

test('commit verification: off by default; head|all need trusted key files, from flags or the environment', () => {
  const load = (options: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => loadServerConfig({ repo: '/r', ...options }, env, '/srv').commitVerification!;
  assert.deepEqual(load({}), { mode: 'off', openpgpKeyFiles: [], allowedSignersFile: undefined });
  assert.deepEqual(load({ 'verify-commits': 'head', 'trusted-ssh-signers': 'keys/allowed_signers' }), {
    mode: 'head',
    openpgpKeyFiles: [],
    allowedSignersFile: '/srv/keys/allowed_signers',
  });
  assert.deepEqual(load({ 'verify-commits': 'all', 'trusted-openpgp-keys': ['a.asc,b.asc', '/etc/c.asc'] }).openpgpKeyFiles, ['/srv/a.asc', '/srv/b.asc', '/etc/c.asc']);
  assert.deepEqual(load({}, { DEPLOYX_VERIFY_COMMITS: 'all', DEPLOYX_TRUSTED_OPENPGP_KEYS: 'a.asc, b.asc', DEPLOYX_TRUSTED_SSH_SIGNERS: '/k/as' }), {
    mode: 'all',
    openpgpKeyFiles: ['/srv/a.asc', '/srv/b.asc'],
    allowedSignersFile: '/k/as',
  });
  assert.throws(() => load({ 'verify-commits': 'head' }), /needs trusted keys/);
  assert.throws(() => load({ 'verify-commits': 'always' }), /use off, head or all/);
});

test('TLS files go together; --trust-proxy takes what express trusts and nothing else', () => {
  const load = (options: Record<string, string>, env: Record<string, string> = {}) => loadServerConfig({ repo: '/r', ...options }, env, '/srv');
  assert.deepEqual(load({ tlsCert: 'c.pem', tlsKey: 'k.pem' }).tls, { certFile: '/srv/c.pem', keyFile: '/srv/k.pem' });
  assert.deepEqual(load({}, { DEPLOYX_TLS_CERT: '/etc/c', DEPLOYX_TLS_KEY: '/etc/k' }).tls, { certFile: '/etc/c', keyFile: '/etc/k' });
  assert.equal(load({}).tls, undefined);
  assert.throws(() => load({ tlsCert: 'c.pem' }), ConfigError);
  assert.equal(load({}).trustProxy, undefined);
  assert.equal(load({ trustProxy: 'loopback' }).trustProxy, 'loopback');
  assert.equal(load({ trustProxy: '10.0.5.10, 10.0.6.0/24' }).trustProxy, '10.0.5.10,10.0.6.0/24');
  assert.equal(load({ trustProxy: '2' }).trustProxy, 2);
  assert.equal(load({ trustProxy: 'true' }).trustProxy, true);
  assert.equal(load({}, { DEPLOYX_TRUST_PROXY: 'false' }).trustProxy, undefined);
  for (const bad of ['yes', 'proxy.corp', '10.0.0.1;rm']) assert.throws(() => load({ trustProxy: bad }), ConfigError, bad);
});
