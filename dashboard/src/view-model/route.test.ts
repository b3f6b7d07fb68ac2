import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRoute, routePath, sectionOf, type Route } from './route.ts';

test('routes parse and print back', () => {
  const cases: Array<[string, Route]> = [
    ['/', { page: 'overview' }],
    ['/devices', { page: 'devices' }],
    ['/devices/', { page: 'devices' }],
    ['/devices/web%2F1', { page: 'device', id: 'web/1' }],
    ['/revisions', { page: 'revisions' }],
    ['/rollouts', { page: 'rollouts' }],
    ['/rollouts/r-1', { page: 'rollout', id: 'r-1' }],
    ['/audit', { page: 'audit' }],
    ['/nope', { page: 'not-found', path: '/nope' }],
    ['/devices/a/b', { page: 'not-found', path: '/devices/a/b' }],
  ];
  for (const [path, route] of cases) {
    assert.deepEqual(parseRoute(path), route, path);
    if (route.page !== 'not-found' && !path.endsWith('/') || path === '/') assert.equal(routePath(route), path, path);
  }
});

test('detail pages belong to their list section', () => {
  assert.equal(sectionOf({ page: 'device', id: 'x' }), 'devices');
  assert.equal(sectionOf({ page: 'rollout', id: 'x' }), 'rollouts');
  assert.equal(sectionOf({ page: 'not-found', path: '/x' }), null);
});
