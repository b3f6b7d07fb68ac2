import assert from 'node:assert/strict';
import { test } from 'node:test';
import { visibleWindow, type VisibleWindow, type WindowInput } from './virtual-window.ts';

test('visibleWindow renders only what is on screen plus overscan', () => {
  const base: WindowInput = { scrollTop: 0, viewportHeight: 360, rowHeight: 36, total: 10_000, overscan: 5 };
  const cases: Array<[string, Partial<WindowInput>, VisibleWindow]> = [
    ['top', {}, { start: 0, end: 16, offsetTop: 0, totalHeight: 360_000 }],
    ['middle', { scrollTop: 36_000 }, { start: 995, end: 1016, offsetTop: 35_820, totalHeight: 360_000 }],
    ['partial row', { scrollTop: 36_010 }, { start: 995, end: 1016, offsetTop: 35_820, totalHeight: 360_000 }],
    ['bottom is clamped', { scrollTop: 9_999_999 }, { start: 9985, end: 10_000, offsetTop: 359_460, totalHeight: 360_000 }],
    ['fewer rows than the viewport', { total: 3 }, { start: 0, end: 3, offsetTop: 0, totalHeight: 108 }],
    ['empty', { total: 0 }, { start: 0, end: 0, offsetTop: 0, totalHeight: 0 }],
    ['negative scroll (overscroll bounce)', { scrollTop: -50 }, { start: 0, end: 16, offsetTop: 0, totalHeight: 360_000 }],
  ];
  for (const [name, input, expected] of cases) assert.deepEqual(visibleWindow({ ...base, ...input }), expected, name);
});
