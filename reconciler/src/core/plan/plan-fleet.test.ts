// planFleet's rules, one table row each: a base and a head built from plain specs, an inventory,
// and the plan's observable lines (`device symbol key — reason`, joins and leaves).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Facts } from '../../../../schemas/facts.ts';
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import { buildModel, factsFor, type ModelParts } from '../compile/test-builders.ts';
import { sha256Hex } from '../sha256.ts';
import { planFleet, type DeviceRef, type FleetPlan, type PlanDeviceInput } from './plan-fleet.ts';

// ---- builders ----

const BASE_REV = 'main@sha1:1111111111111111111111111111111111111111';
const HEAD_REV = 'pr@sha1:2222222222222222222222222222222222222222';
const APT = factsFor('ubuntu', 'apt', { agent: { version: '0.1.0' } });

/** A fleet of web servers: group `web` (role=web) ← profile `web` (nginx, motd, setup script); web-01 declared. */
function webFleet(change: (parts: ModelParts) => void = () => {}, revision = BASE_REV): ModelParts {
  const parts: ModelParts = {
    revision,
    fleet: { rollout: { maxParallel: 2, failureThreshold: 1 } },
    groups: { web: { selector: { matchLabels: { role: 'web' } } } },
    profiles: { web: { targets: ['web'], software: ['nginx'], files: ['motd'], scripts: ['setup'], rollout: { maxParallel: 1 } } },
    software: { nginx: { packages: { apt: 'nginx', dnf: 'nginx' }, version: '1.24.*' } },
    files: { motd: { path: '/etc/motd', content: 'welcome\n', mode: '0644' } },
    scripts: { setup: { interpreter: 'sh', content: 'echo setup\n' } },
    devices: { 'web-01': {} },
    deviceLabels: { 'web-01': { role: 'web' } },
  };
  change(parts);
  return parts;
}

function declareWeb02(parts: ModelParts): void {
  parts.devices!['web-02'] = {};
  parts.deviceLabels!['web-02'] = { role: 'web' };
}

function declareWeb03(parts: ModelParts): void {
  parts.devices!['web-03'] = {};
  parts.deviceLabels!['web-03'] = { role: 'web' };
}

function head(change: (parts: ModelParts) => void): ModelParts {
  return webFleet(change, HEAD_REV);
}

function enrolled(name: string, options: { labels?: Record<string, string>; facts?: Facts; online?: boolean; lastSeenAt?: string } = {}): PlanDeviceInput {
  return {
    name,
    labels: options.labels ?? {},
    facts: options.facts ?? APT,
    declared: false,
    online: options.online ?? true,
    ...(options.lastSeenAt ? { lastSeenAt: options.lastSeenAt } : {}),
  };
}

const MOTD = sha256Hex('welcome\n');
const SETUP = sha256Hex('echo setup\n');
const MOTD_NEW = `content ${MOTD}, size 8 B, source inline, mode 0644`;
const SETUP_NEW = `content ${SETUP}, source inline, interpreter sh, run onChange, timeout 300s, exit codes 0`;

const ONLINE = [enrolled('web-01')];

/** The plan as lines a reviewer would read, one per fact. */
function lines(plan: FleetPlan): string[] {
  const out: string[] = [];
  const symbol = { create: '+', update: '~', delete: '-', forget: '=' } as const;
  for (const d of plan.devices) {
    for (const p of d.profiles.joined) out.push(`${d.device} joins profile ${p}`);
    for (const p of d.profiles.left) out.push(`${d.device} leaves profile ${p}`);
    for (const g of d.groups.joined) out.push(`${d.device} joins group ${g}`);
    for (const g of d.groups.left) out.push(`${d.device} leaves group ${g}`);
    for (const c of d.changes) {
      const fields = c.fields.map((f) => `${f.field}${f.from !== undefined ? ` ${f.from} →` : ''} ${f.to ?? '(unset)'}`).join(', ');
      out.push(`${d.device} ${symbol[c.action]} ${c.key} — ${c.reason}${fields ? ` [${fields}]` : ''}`);
    }
  }
  return out;
}

interface Row {
  name: string;
  base: ModelParts | undefined;
  head: ModelParts;
  devices?: PlanDeviceInput[];
  expect: string[];
}

const ROWS: Row[] = [
  {
    name: 'no change: nothing to show',
    base: webFleet(),
    head: head(() => {}),
    expect: [],
  },
  {
    name: 'a file added to the profile is created, with what it holds',
    base: webFleet(),
    head: head((p) => {
      p.files!.banner = { path: '/etc/issue', content: 'hi\n', mode: '0600', owner: 'root' };
      p.profiles!.web!.files = ['motd', 'banner'];
    }),
    expect: [
      `web-01 + file//etc/issue — not on the device yet [content ${sha256Hex('hi\n')}, size 3 B, source inline, mode 0600, owner root]`,
    ],
  },
  {
    name: 'a version change is an update that says what changed',
    base: webFleet(),
    head: head((p) => (p.software!.nginx!.version = '1.26.*')),
    expect: ['web-01 ~ package/nginx — desired state changed [version 1.24.* → 1.26.*]'],
  },
  {
    name: 'a mode change is an update of the mode alone',
    base: webFleet(),
    head: head((p) => (p.files!.motd!.mode = '0640')),
    expect: ['web-01 ~ file//etc/motd — desired state changed [mode 0644 → 0640]'],
  },
  {
    name: 'a file removed from the profile is deleted (prune defaults to true for files)',
    base: webFleet(),
    head: head((p) => (p.profiles!.web!.files = [])),
    expect: ['web-01 - file//etc/motd — removed from Git (prune)'],
  },
  {
    name: 'a file with prune: false is left in place',
    base: webFleet((p) => (p.files!.motd!.prune = false)),
    head: head((p) => {
      p.files!.motd!.prune = false;
      p.profiles!.web!.files = [];
    }),
    expect: ['web-01 = file//etc/motd — no longer desired; left in place (prune: false)'],
  },
  {
    name: 'a package removed from the profile is left in place (prune defaults to false for packages)',
    base: webFleet(),
    head: head((p) => (p.profiles!.web!.software = [])),
    expect: ['web-01 = package/nginx — no longer desired; left in place (prune: false)'],
  },
  {
    name: 'a package with prune: true is deleted',
    base: webFleet((p) => (p.software!.nginx!.prune = true)),
    head: head((p) => {
      p.software!.nginx!.prune = true;
      p.profiles!.web!.software = [];
    }),
    expect: ['web-01 - package/nginx — removed from Git (prune)'],
  },
  {
    name: 'ensure: absent on a resource the device had is a removal',
    base: webFleet(),
    head: head((p) => (p.software!.nginx!.ensure = 'absent')),
    expect: ['web-01 - package/nginx — ensure: absent [ensure present → absent]'],
  },
  {
    name: 'a new ensure: absent resource is a removal',
    base: webFleet(),
    head: head((p) => {
      p.software!.telnet = { packages: { apt: 'telnet' }, ensure: 'absent' };
      p.profiles!.web!.software = ['nginx', 'telnet'];
    }),
    expect: ['web-01 - package/telnet — ensure: absent'],
  },
  {
    name: 'an ensure: absent resource dropped from Git is forgotten: there was nothing to remove',
    base: webFleet((p) => {
      p.software!.telnet = { packages: { apt: 'telnet' }, ensure: 'absent', prune: true };
      p.profiles!.web!.software = ['nginx', 'telnet'];
    }),
    head: head((p) => (p.software!.telnet = { packages: { apt: 'telnet' }, ensure: 'absent', prune: true })),
    expect: ['web-01 = package/telnet — no longer desired (was ensure: absent)'],
  },
  {
    name: 'a device whose Git labels now match joins the group and the profile: everything is new',
    base: webFleet((p) => (p.deviceLabels!['web-01'] = { role: 'db' })),
    head: head((p) => (p.devices!['web-02'] = {})),
    expect: [
      'web-01 joins profile web',
      'web-01 joins group web',
      `web-01 + file//etc/motd — not on the device yet [${MOTD_NEW}]`,
      'web-01 + package/nginx — not on the device yet [manager apt, package nginx, version 1.24.*]',
      `web-01 + script/setup — not on the device yet [${SETUP_NEW}]`,
    ],
  },
  {
    name: 'a narrowed selector makes a device leave: files deleted, package and script left',
    base: webFleet(),
    head: head((p) => (p.groups!.web = { selector: { matchLabels: { role: 'web', tier: 'prod' } } })),
    devices: [enrolled('web-01', { labels: { tier: 'prod' } }), enrolled('lab-01', { labels: { role: 'web' } })],
    expect: [
      'lab-01 leaves profile web',
      'lab-01 leaves group web',
      'lab-01 - file//etc/motd — removed from Git (prune)',
      'lab-01 = package/nginx — no longer desired; left in place (prune: false)',
      'lab-01 = script/setup — no longer desired',
    ],
  },
  {
    name: 'enrollment labels count, Git labels win over them',
    base: webFleet(),
    head: head((p) => (p.groups!.canary = { selector: { matchLabels: { ring: 'canary' } } })),
    devices: [enrolled('web-01', { labels: { ring: 'canary', role: 'db' } }), enrolled('lab-01', { labels: { role: 'web', ring: 'canary' } })],
    expect: ['lab-01 joins group canary', 'web-01 joins group canary'],
  },
  {
    name: 'a device without a package manager still shows its package change, with the planner’s reason',
    base: webFleet(declareWeb02),
    head: head((p) => {
      declareWeb02(p);
      p.software!.nginx!.version = '1.26.*';
    }),
    devices: [enrolled('web-01', { facts: { agent: { version: '0.1.0' } } })],
    expect: [
      'web-01 ~ package/nginx — waiting for the device to report its package manager [version 1.24.* → 1.26.*]',
      // web-02 is declared, not enrolled: no facts either.
      'web-02 ~ package/nginx — waiting for the device to report its package manager [version 1.24.* → 1.26.*]',
    ],
  },
  {
    name: 'a run: always script rides along with a job that runs anyway',
    base: webFleet((p) => (p.scripts!.setup!.run = 'always')),
    head: head((p) => {
      p.scripts!.setup!.run = 'always';
      p.software!.nginx!.version = '1.26.*';
    }),
    expect: ['web-01 ~ package/nginx — desired state changed [version 1.24.* → 1.26.*]', 'web-01 ~ script/setup — run: always, with this job'],
  },
  {
    name: 'no base: every resource is new',
    base: undefined,
    head: head(() => {}),
    expect: [
      'web-01 joins profile web',
      'web-01 joins group web',
      `web-01 + file//etc/motd — not on the device yet [${MOTD_NEW}]`,
      'web-01 + package/nginx — not on the device yet [manager apt, package nginx, version 1.24.*]',
      `web-01 + script/setup — not on the device yet [${SETUP_NEW}]`,
    ],
  },
];

describe('planFleet rules', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const plan = planFleet({
        base: row.base === undefined ? undefined : buildModel(row.base),
        head: buildModel(row.head),
        devices: row.devices ?? ONLINE,
      });
      assert.deepStrictEqual(lines(plan), row.expect);
    });
  }
});

describe('planFleet', () => {
  it('names the groups that match no device in head, with their size in base and who targets them', () => {
    const plan = planFleet({
      base: buildModel(webFleet((p) => (p.groups!.eu = { selector: { matchLabels: { site: 'eu' } } }))),
      head: buildModel(
        head((p) => {
          p.groups!.eu = { selector: { matchLabels: { site: 'eu', rack: 'r9' } } };
          p.groups!.lab = { devices: ['lab-01'] };
          p.profiles!.eu = { targets: ['eu'], files: ['motd'] };
        }),
      ),
      devices: [enrolled('web-01', { labels: { site: 'eu' } }), enrolled('web-02')],
    });
    assert.deepStrictEqual(plan.emptyGroups, [
      { name: 'eu', before: 1, targetedBy: ['eu'] },
      { name: 'lab', before: null, targetedBy: [] },
    ]);
    assert.deepStrictEqual(plan.groups, [
      { name: 'eu', document: 'modified', before: 1, after: 0, joined: [], left: ['web-01'] },
      { name: 'lab', document: 'added', before: null, after: 0, joined: [], left: [] },
    ]);
    assert.deepStrictEqual(
      plan.profiles.map((p) => [p.name, p.document, p.devices]),
      [['eu', 'added', []]],
    );
  });

  it('counts offline and not-enrolled devices apart; only offline devices carry lastSeenAt', () => {
    const plan = planFleet({
      base: buildModel(webFleet(declareWeb03)),
      head: buildModel(
        head((p) => {
          declareWeb03(p);
          p.files!.motd!.content = 'changed\n';
        }),
      ),
      devices: [
        enrolled('web-01', { lastSeenAt: '2025-01-01T10:00:00.000Z' }),
        enrolled('web-02', { labels: { role: 'web' }, online: false, lastSeenAt: '2025-01-01T09:00:00.000Z' }),
      ],
    });
    assert.deepStrictEqual(
      plan.devices.map((d) => [d.device, d.status, d.lastSeenAt]),
      [
        ['web-01', 'online', undefined],
        ['web-02', 'offline', '2025-01-01T09:00:00.000Z'],
        ['web-03', 'not-enrolled', undefined],
      ],
    );
    assert.deepStrictEqual(plan.totals, { touched: 3, create: 0, update: 3, delete: 0, forget: 0, offline: 1, notEnrolled: 1 });
    assert.deepStrictEqual(plan.fleet, { devices: 3, online: 1, offline: 1, notEnrolled: 1 });
    const web = plan.profiles.find((p) => p.name === 'web')!;
    assert.equal(web.offline, 1);
    assert.equal(web.notEnrolled, 1);
    assert.deepStrictEqual(web.waves, [{ name: 'all', devices: ['web-01', 'web-02'] }], 'a not-enrolled device is in no wave');
  });

  it('asks the wave planner per profile with the merged rollout policy and the enrolled devices it touches', () => {
    const calls: Array<{ profile: string; policy: RolloutPolicy; devices: DeviceRef[] }> = [];
    const plan = planFleet({
      base: buildModel(webFleet()),
      head: buildModel(head((p) => (p.software!.nginx!.version = '1.26.*'))),
      devices: [enrolled('web-02', { labels: { role: 'web' }, online: false }), enrolled('web-01', { labels: { ring: 'canary' } })],
      waves: (profile, policy, devices) => {
        calls.push({ profile, policy, devices });
        return [
          { name: 'canary', devices: devices.filter((d) => d.labels.ring === 'canary').map((d) => d.name) },
          { name: 'rest', devices: devices.filter((d) => d.labels.ring !== 'canary').map((d) => d.name).reverse() },
        ];
      },
    });
    assert.deepStrictEqual(calls, [
      {
        profile: 'web',
        policy: { maxParallel: 1, failureThreshold: 1 },
        devices: [
          { name: 'web-01', labels: { ring: 'canary', role: 'web' }, facts: APT, groups: ['web'], online: true },
          { name: 'web-02', labels: { role: 'web' }, facts: APT, groups: ['web'], online: false },
        ],
      },
    ]);
    assert.deepStrictEqual(plan.profiles[0]!.waves, [
      { name: 'canary', devices: ['web-01'] },
      { name: 'rest', devices: ['web-02'] },
    ]);
  });

  it('attributes a resource two profiles share to both', () => {
    const change = (p: ModelParts) => {
      p.groups!.all = { selector: { matchLabels: { role: 'web' } } };
      p.profiles!.base = { targets: ['all'], files: ['motd'] };
    };
    const plan = planFleet({
      base: buildModel(webFleet(change)),
      head: buildModel(
        head((p) => {
          change(p);
          p.files!.motd!.content = 'new\n';
        }),
      ),
      devices: [enrolled('web-01'), enrolled('web-02', { labels: { role: 'web' } })],
    });
    assert.deepStrictEqual(plan.devices[0]!.changes.map((c) => [c.key, c.profiles]), [['file//etc/motd', ['base', 'web']]]);
    assert.deepStrictEqual(
      plan.profiles.map((p) => [p.name, p.devices, p.counts.update]),
      [
        ['base', ['web-01', 'web-02'], 2],
        ['web', ['web-01', 'web-02'], 2],
      ],
    );
    assert.equal(plan.totals.update, 2, 'totals count each device change once, not once per profile');
  });

  it('is deterministic: the order of the inventory does not matter, the digest covers the changes', () => {
    const base = buildModel(webFleet());
    const headModel = buildModel(head((p) => (p.software!.nginx!.version = '1.26.*')));
    const devices = [enrolled('web-02', { labels: { role: 'web' } }), enrolled('web-01'), enrolled('lab-01', { labels: { role: 'web' } })];
    const a = planFleet({ base, head: headModel, devices });
    const b = planFleet({ base, head: headModel, devices: [...devices].reverse() });
    assert.deepStrictEqual(a, b);
    assert.match(a.digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepStrictEqual(
      a.devices.map((d) => d.device),
      ['lab-01', 'web-01', 'web-02'],
    );

    const other = planFleet({ base, head: buildModel(head((p) => (p.software!.nginx!.version = '1.28.*'))), devices });
    assert.notEqual(other.digest, a.digest);
    const heartbeat = planFleet({ base, head: headModel, devices: devices.map((d) => ({ ...d, lastSeenAt: '2030-01-01T00:00:00.000Z' })) });
    assert.equal(heartbeat.digest, a.digest, 'an online device seen later does not change the digest');
  });

  it('reports compile issues head adds, not the ones base already had', () => {
    const plan = planFleet({
      base: buildModel(webFleet()),
      head: buildModel(
        head((p) => {
          p.software!.vim = { packages: { dnf: 'vim-enhanced' } };
          p.profiles!.web!.software = ['nginx', 'vim'];
        }),
      ),
      devices: [enrolled('web-01')],
    });
    const web01 = plan.devices.find((d) => d.device === 'web-01')!;
    assert.deepStrictEqual(
      web01.issues.map((i) => [i.code, i.subject]),
      [['package.unavailable', 'package/vim']],
    );
    assert.deepStrictEqual(web01.changes, []);
  });
});
