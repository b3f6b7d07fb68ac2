// Maintenance windows: when a rollout may start jobs.
//
// A window `{ days, start, end, timeZone }` is read on the wall clock of its IANA time zone (UTC
// when omitted). The wall clock comes from `Intl.DateTimeFormat` with `timeZone`, which is pure
// computation over the runtime's time-zone database, so offsets and daylight-saving changes are
// Intl's, never ours. Rules:
// - A window is open from `start` (inclusive) to `end` (exclusive) on each listed day, every day
//   when `days` is omitted.
// - A window whose end is not after its start runs past midnight and belongs to the day it STARTS
//   on: `fri 22:00–02:00` is open Friday 22:00 → Saturday 02:00, not Saturday 22:00. `start ==
//   end` is a whole 24 hours from `start`.
// - Several windows: open when any one is. No windows (omitted or an empty list) → always open.
// - A window that cannot be read (an unknown time zone, a malformed `HH:MM`) is never open: a
//   rollout waits rather than touching devices at a time nobody chose.
// - Daylight saving: a window starting in the hour that is skipped opens when the clock jumps
//   past its start; a window inside the hour that repeats is open in both passes of that hour.
//
// Worked examples (each one a row of windows.test.ts):
//   mon–fri 01:00–05:00 UTC:           Mon 03:00Z → open;  Mon 05:00Z → closed (end is exclusive)
//   fri 22:00–02:00 UTC:               Fri 23:00 → open; Sat 01:00 → open (opened Friday);
//                                      Sat 23:00 → closed; Fri 01:00 → closed (Thursday not listed)
//   mon 02:00–04:00 Asia/Tokyo:        Sun 18:00Z (= Mon 03:00 JST) → open
//   daily 01:00–05:00 America/New_York: 06:00Z in June (02:00 EDT) → open; in January (01:00 EST)
//                                      → open; 09:30Z in June (05:30 EDT) → closed, in January
//                                      (04:30 EST) → open
//   daily 03:00 America/New_York, from Sat 2024-03-09 07:00 EST: next opening Sun 03:00 EDT =
//                                      07:00Z, not the 08:00Z yesterday's offset would give
//   daily 02:30–04:00 Europe/Berlin on 2024-03-31 (02:00 → 03:00): from 00:00 local the next
//                                      opening is 01:00Z, when the clock jumps to 03:00
//   daily 02:30–02:45 Europe/Berlin on 2024-10-27 (03:00 → 02:00): open 00:30Z (CEST) and
//                                      again 01:30Z (CET)
//   timeZone "Mars/Olympus":           never open
import type { MaintenanceWindow } from '../../../../schemas/kinds.ts';

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
type Weekday = (typeof WEEKDAYS)[number];

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Whether a job may start at `at`: inside one of `windows`, or always when there are none. */
export function isWindowOpen(windows: readonly MaintenanceWindow[] | undefined, at: Date): boolean {
  if (windows === undefined || windows.length === 0) return true;
  return windows.some((window) => {
    const compiled = compileWindow(window);
    return compiled !== undefined && compiled.isOpenAt(at.getTime());
  });
}

/**
 * The earliest instant after `after`, to the minute, at which one of `windows` opens; `undefined`
 * when there are no windows (always open) or none can ever open. Meant as the time to look again,
 * not as a promise: `isWindowOpen` decides.
 */
export function nextWindowOpening(windows: readonly MaintenanceWindow[] | undefined, after: Date): Date | undefined {
  if (windows === undefined || windows.length === 0) return undefined;
  let best: number | undefined;
  for (const window of windows) {
    const opening = compileWindow(window)?.nextOpeningAfter(after.getTime());
    if (opening !== undefined && (best === undefined || opening < best)) best = opening;
  }
  return best === undefined ? undefined : new Date(best);
}

/**
 * The wall clock of `timeZone` at `at`, as milliseconds since 1970 read as if that wall clock were
 * UTC (so `new Date(wall).getUTCDay()` is the local weekday); `undefined` for an unknown zone.
 */
export function wallClock(at: Date, timeZone: string): number | undefined {
  const formatter = makeFormatter(timeZone);
  return formatter === undefined ? undefined : readWall(formatter, at.getTime());
}

interface CompiledWindow {
  isOpenAt(instant: number): boolean;
  nextOpeningAfter(instant: number): number | undefined;
}

function compileWindow(window: MaintenanceWindow): CompiledWindow | undefined {
  const start = parseClock(window.start);
  const end = parseClock(window.end);
  const formatter = makeFormatter(window.timeZone ?? 'UTC');
  if (start === undefined || end === undefined || formatter === undefined) return undefined;
  const days = new Set<Weekday>(window.days ?? WEEKDAYS);
  const wall = (instant: number): number => readWall(formatter, instant);

  return {
    isOpenAt(instant) {
      const local = wall(instant);
      const minute = mod(Math.floor(local / MINUTE), 1440);
      const day = WEEKDAYS[new Date(local).getUTCDay()]!;
      const previous = WEEKDAYS[mod(new Date(local).getUTCDay() - 1, 7)]!;
      if (start < end) return days.has(day) && minute >= start && minute < end;
      return (days.has(day) && minute >= start) || (days.has(previous) && minute < end);
    },
    nextOpeningAfter(instant) {
      const local = wall(instant);
      const today = Math.floor(local / DAY) * DAY;
      // Openings are `start` on listed days; a week and a day covers every listed weekday.
      for (let k = 0; k <= 7; k++) {
        const dayStart = today + k * DAY;
        if (!days.has(WEEKDAYS[new Date(dayStart).getUTCDay()]!)) continue;
        const target = dayStart + start * MINUTE;
        if (target <= local) continue;
        return instantOfWall(wall, target, instant + (target - local));
      }
      return undefined;
    },
  };
}

/**
 * The first instant whose wall clock reads `target`, starting from `guess` (the instant that would
 * read it if the offset did not change). Each step corrects the guess by the wall-clock error;
 * when the wall clock never reads `target` (a skipped hour) the guesses straddle it, and the
 * answer is the first minute between them whose wall clock is past `target`.
 */
function instantOfWall(wall: (instant: number) => number, target: number, guess: number): number {
  let below: number | undefined;
  let above: number | undefined;
  let t = guess;
  for (let i = 0; i < 4; i++) {
    const reads = wall(t);
    if (reads === target) return t;
    if (reads < target) below = t;
    else above = t;
    t += target - reads;
  }
  if (below === undefined || above === undefined || below > above) return t;
  let lo = below;
  let hi = above;
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / (2 * MINUTE)) * MINUTE;
    if (wall(mid) >= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

function makeFormatter(timeZone: string): Intl.DateTimeFormat | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return undefined;
  }
}

function readWall(formatter: Intl.DateTimeFormat, instant: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(instant)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  // Older ICU data writes midnight as hour 24 even with h23.
  const hour = parts['hour'] === 24 ? 0 : parts['hour']!;
  const ms = mod(instant, 1000);
  return Date.UTC(parts['year']!, parts['month']! - 1, parts['day']!, hour, parts['minute']!, parts['second']!, ms);
}

/** Minutes after midnight of `HH:MM`, `undefined` when malformed. */
function parseClock(text: string): number | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  return match === null ? undefined : Number(match[1]) * 60 + Number(match[2]);
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}
