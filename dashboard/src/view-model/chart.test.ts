import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sample } from './builders.ts';
import { appendSample, convergenceChart } from './chart.ts';

const g = { width: 120, height: 60, pad: 10 };

test('convergenceChart maps time to x and share in sync to y', () => {
  const c = convergenceChart([sample('2024-05-01T10:02:00Z', 10, 10), sample('2024-05-01T10:00:00Z', 0, 10), sample('2024-05-01T10:01:00Z', 5, 10)], g);
  assert.deepEqual(c.points.map((p) => [p.x, p.y, p.percent]), [[10, 50, 0], [60, 30, 50], [110, 10, 100]]);
  assert.equal(c.line, 'M10 50 L60 30 L110 10');
  assert.equal(c.area, 'M10 50 L60 30 L110 10 L110 50 L10 50 Z');
  assert.equal(c.latest, 100);
});

test('no samples draw nothing; one sample draws a flat line; an empty fleet is 0 %', () => {
  assert.equal(convergenceChart([], g).line, '');
  assert.equal(convergenceChart([sample('2024-05-01T10:00:00Z', 3, 4)], g).line, 'M10 20 L110 20');
  assert.equal(convergenceChart([sample('2024-05-01T10:00:00Z', 0, 0)], g).latest, 0);
});

test('appendSample keeps the newest and replaces same-time samples', () => {
  let s = [sample('2024-05-01T10:00:00Z', 1, 2), sample('2024-05-01T10:01:00Z', 1, 2)];
  s = appendSample(s, sample('2024-05-01T10:01:00Z', 2, 2), 10);
  assert.deepEqual(s.map((x) => x.inSync), [1, 2]);
  s = appendSample(s, sample('2024-05-01T10:02:00Z', 0, 2), 2);
  assert.deepEqual(s.map((x) => x.at), ['2024-05-01T10:01:00Z', '2024-05-01T10:02:00Z']);
});
