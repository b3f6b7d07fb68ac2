import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MaintenanceWindow } from '../../../../schemas/kinds.ts';
import { isWindowOpen, nextWindowOpening, wallClock } from './windows.ts';

const weekdays: MaintenanceWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '01:00', end: '05:00' };
const fridayNight: MaintenanceWindow = { days: ['fri'], start: '22:00', end: '02:00' };
const tokyoMonday: MaintenanceWindow = { days: ['mon'], start: '02:00', end: '04:00', timeZone: 'Asia/Tokyo' };
const newYork: MaintenanceWindow = { start: '01:00', end: '05:00', timeZone: 'America/New_York' };
const berlinSkipped: MaintenanceWindow = { start: '02:30', end: '04:00', timeZone: 'Europe/Berlin' };
const berlinRepeated: MaintenanceWindow = { start: '02:30', end: '02:45', timeZone: 'Europe/Berlin' };

// 2024-06-03 is a Monday, 2024-06-07 a Friday.
const openCases: Array<{ name: string; windows: MaintenanceWindow[] | undefined; at: string; want: boolean }> = [
  { name: 'no windows → always open', windows: undefined, at: '2024-06-08T12:00:00Z', want: true },
  { name: 'an empty list reads as no windows', windows: [], at: '2024-06-08T12:00:00Z', want: true },
  { name: 'inside: Mon 03:00Z in mon–fri 01:00–05:00', windows: [weekdays], at: '2024-06-03T03:00:00Z', want: true },
  { name: 'start is inclusive: Mon 01:00Z', windows: [weekdays], at: '2024-06-03T01:00:00Z', want: true },
  { name: 'end is exclusive: Mon 05:00Z', windows: [weekdays], at: '2024-06-03T05:00:00Z', want: false },
  { name: 'outside: Sat 03:00Z (day not listed)', windows: [weekdays], at: '2024-06-08T03:00:00Z', want: false },
  { name: 'crossing midnight: Fri 23:00 in fri 22:00–02:00', windows: [fridayNight], at: '2024-06-07T23:00:00Z', want: true },
  { name: 'crossing midnight: Sat 01:00 belongs to Friday', windows: [fridayNight], at: '2024-06-08T01:00:00Z', want: true },
  { name: 'crossing midnight: Sat 23:00 is not a window (Saturday not listed)', windows: [fridayNight], at: '2024-06-08T23:00:00Z', want: false },
  { name: 'crossing midnight: Fri 01:00 is not a window (Thursday not listed)', windows: [fridayNight], at: '2024-06-07T01:00:00Z', want: false },
  { name: 'another time zone: Sun 18:00Z is Mon 03:00 in Tokyo', windows: [tokyoMonday], at: '2024-06-02T18:00:00Z', want: true },
  { name: 'another time zone: Mon 03:00Z is Mon 12:00 in Tokyo', windows: [tokyoMonday], at: '2024-06-03T03:00:00Z', want: false },
  { name: 'DST: 06:00Z in June is 02:00 EDT in New York', windows: [newYork], at: '2024-06-03T06:00:00Z', want: true },
  { name: 'DST: 06:00Z in January is 01:00 EST in New York', windows: [newYork], at: '2024-01-08T06:00:00Z', want: true },
  { name: 'DST: 09:30Z in June is 05:30 EDT, closed', windows: [newYork], at: '2024-06-03T09:30:00Z', want: false },
  { name: 'DST: 09:30Z in January is 04:30 EST, open', windows: [newYork], at: '2024-01-08T09:30:00Z', want: true },
  { name: 'skipped hour: Berlin 2024-03-31 01:00Z reads 03:00, inside 02:30–04:00', windows: [berlinSkipped], at: '2024-03-31T01:00:00Z', want: true },
  { name: 'repeated hour: Berlin 2024-10-27 00:30Z reads 02:30 CEST', windows: [berlinRepeated], at: '2024-10-27T00:30:00Z', want: true },
  { name: 'repeated hour: Berlin 2024-10-27 01:30Z reads 02:30 CET', windows: [berlinRepeated], at: '2024-10-27T01:30:00Z', want: true },
  { name: 'repeated hour: Berlin 2024-10-27 01:00Z reads 02:00 CET, before the window', windows: [berlinRepeated], at: '2024-10-27T01:00:00Z', want: false },
  { name: 'start == end is 24 hours from start', windows: [{ days: ['mon'], start: '06:00', end: '06:00' }], at: '2024-06-04T05:59:00Z', want: true },
  { name: 'any of several windows', windows: [weekdays, fridayNight], at: '2024-06-07T23:00:00Z', want: true },
  { name: 'unknown time zone → never open', windows: [{ start: '00:00', end: '00:00', timeZone: 'Mars/Olympus' }], at: '2024-06-03T03:00:00Z', want: false },
  { name: 'malformed time → never open', windows: [{ start: '25:00', end: '02:00' }], at: '2024-06-03T01:00:00Z', want: false },
];

for (const c of openCases) {
  test(`isWindowOpen: ${c.name}`, () => {
    assert.equal(isWindowOpen(c.windows, new Date(c.at)), c.want);
  });
}

const nextCases: Array<{ name: string; windows: MaintenanceWindow[] | undefined; after: string; want: string | undefined }> = [
  { name: 'no windows → none (always open)', windows: undefined, after: '2024-06-08T12:00:00Z', want: undefined },
  { name: 'later the same day', windows: [weekdays], after: '2024-06-03T00:10:20.123Z', want: '2024-06-03T01:00:00.000Z' },
  { name: 'Saturday → Monday', windows: [weekdays], after: '2024-06-08T03:00:00Z', want: '2024-06-10T01:00:00.000Z' },
  { name: 'crossing midnight: Sat 03:00 → next Friday 22:00', windows: [fridayNight], after: '2024-06-08T03:00:00Z', want: '2024-06-14T22:00:00.000Z' },
  { name: 'another time zone: Mon 12:00 JST → next Mon 02:00 JST', windows: [tokyoMonday], after: '2024-06-03T03:00:00Z', want: '2024-06-09T17:00:00.000Z' },
  { name: 'New York daily: Fri 07:00 EST → Sat 01:00 EST = 06:00Z', windows: [newYork], after: '2024-03-08T12:00:00Z', want: '2024-03-09T06:00:00.000Z' },
  { name: 'DST between now and the opening: Sat 07:00 EST → Sun 03:00 EDT = 07:00Z (not 08:00Z)', windows: [{ start: '03:00', end: '05:00', timeZone: 'America/New_York' }], after: '2024-03-09T12:00:00Z', want: '2024-03-10T07:00:00.000Z' },
  { name: 'skipped hour: 02:30 does not exist on 2024-03-31 in Berlin → opens 01:00Z when the clock jumps to 03:00', windows: [berlinSkipped], after: '2024-03-30T23:00:00Z', want: '2024-03-31T01:00:00.000Z' },
  { name: 'repeated hour: the first 02:30 on 2024-10-27 in Berlin is 00:30Z', windows: [berlinRepeated], after: '2024-10-26T22:00:00Z', want: '2024-10-27T00:30:00.000Z' },
  { name: 'the earliest of several windows', windows: [fridayNight, weekdays], after: '2024-06-07T06:00:00Z', want: '2024-06-07T22:00:00.000Z' },
  { name: 'unknown time zone → none', windows: [{ start: '01:00', end: '02:00', timeZone: 'Mars/Olympus' }], after: '2024-06-03T03:00:00Z', want: undefined },
];

for (const c of nextCases) {
  test(`nextWindowOpening: ${c.name}`, () => {
    const got = nextWindowOpening(c.windows, new Date(c.after));
    assert.equal(got?.toISOString(), c.want);
    if (got !== undefined) assert.equal(isWindowOpen(c.windows, got), true, 'the window is open at its opening');
  });
}

test('wallClock: the local wall clock read as UTC', () => {
  assert.equal(new Date(wallClock(new Date('2024-06-02T18:00:00Z'), 'Asia/Tokyo')!).toISOString(), '2024-06-03T03:00:00.000Z');
  assert.equal(wallClock(new Date('2024-06-02T18:00:00Z'), 'Mars/Olympus'), undefined);
});
