// The limits on what anonymous PXE boots can make the server record and tell people, in one
// place (docs/security.md "Enrollment and provisioning" and docs/operations.md quote them).
//
// A machine that boots and no Device matches is *discovered*: it is recorded so an operator can
// adopt it. Nothing authenticates such a boot, so a flood of made-up MACs must not fill the store
// or every notification list:
// - per source address, a token bucket: `perSourceBurst` new discoveries at once, refilled at
//   `perSourcePerMinute`; beyond it the boot is answered 429 with a retry script and nothing is
//   recorded (a known machine, declared or already discovered, is never limited);
// - at most `maxUnknownMachines` discovered machines are kept; the least recently seen go first;
// - a discovered machine not seen for `expireAfterMs` is forgotten;
// - discovery notifications: at most one per `notifyWindowMs`; the others in that window are
//   counted into one summary at its end.
export const DISCOVERY_LIMITS = {
  perSourceBurst: 20,
  perSourcePerMinute: 10,
  /** Source addresses remembered by the rate limiter (the oldest are dropped beyond). */
  maxTrackedSources: 10_000,
  maxUnknownMachines: 500,
  expireAfterMs: 7 * 24 * 3_600_000,
  notifyWindowMs: 60_000,
} as const;
