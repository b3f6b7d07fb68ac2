import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectFacts, collectNetwork, detectPackageManagers, mergeFacts, osFamilyFromRelease, parseOsRelease, readDmi } from './facts.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-facts-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DEBIAN = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
HOME_URL="https://www.debian.org/"
`;

describe('parseOsRelease', () => {
  it('parses quoted and unquoted values, skipping comments and junk', () => {
    const parsed = parseOsRelease(`${DEBIAN}# a comment\n\nnot a line\nQUOTED='single'\nESC="a \\"b\\" \\$c"\n`);
    assert.equal(parsed.NAME, 'Debian GNU/Linux');
    assert.equal(parsed.VERSION_ID, '12');
    assert.equal(parsed.ID, 'debian');
    assert.equal(parsed.QUOTED, 'single');
    assert.equal(parsed.ESC, 'a "b" $c');
    assert.equal(Object.hasOwn(parsed, 'not a line'), false);
  });

  const families: Array<[string, string | undefined]> = [
    ['ID=ubuntu', 'ubuntu'],
    ['ID="rhel"', 'rhel'],
    ['ID=fedora', 'fedora'],
    ['ID="opensuse-leap"', 'suse'],
    ['ID="sles"', 'suse'],
    ['NAME=x', undefined],
  ];
  for (const [text, family] of families) {
    it(`family of ${text} is ${family}`, () => {
      assert.equal(osFamilyFromRelease(parseOsRelease(text)), family);
    });
  }
});

describe('detectPackageManagers', () => {
  it('finds executables on the search path, in preference order', async () => {
    const bin = path.join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    for (const program of ['zypper', 'dnf']) {
      await writeFile(path.join(bin, program), '#!/bin/sh\n');
      await chmod(path.join(bin, program), 0o755);
    }
    await writeFile(path.join(bin, 'yum'), 'not executable');
    assert.deepEqual(await detectPackageManagers('linux', `/nonexistent:${bin}`), ['dnf', 'zypper']);
    assert.deepEqual(await detectPackageManagers('linux', '/nonexistent'), []);
  });
});

describe('collectNetwork', () => {
  it('skips internal interfaces and link-local addresses', () => {
    const net = collectNetwork({
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: null }],
      eth0: [
        { address: '10.0.0.5', netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:AA:BB:CC', internal: false, cidr: null },
        { address: 'fe80::1', netmask: 'ffff::', family: 'IPv6', mac: '52:54:00:AA:BB:CC', internal: false, cidr: null, scopeid: 2 },
      ],
    });
    assert.deepEqual(net, { ips: ['10.0.0.5'], macs: ['52:54:00:aa:bb:cc'] });
  });
});

describe('collectFacts', () => {
  it('describes this machine', async () => {
    const release = path.join(dir, 'os-release');
    await writeFile(release, DEBIAN);
    const facts = await collectFacts({
      agentVersion: '1.2.3',
      platform: 'linux',
      osReleasePath: release,
      root: dir,
      searchPath: '/usr/bin:/bin',
    });
    assert.equal(facts.hostname, os.hostname());
    assert.equal(facts.os?.family, 'debian');
    assert.equal(facts.os?.name, 'Debian GNU/Linux');
    assert.equal(facts.os?.version, '12');
    assert.equal(facts.os?.kernel, os.release());
    assert.equal(facts.os?.packageManager, 'apt', 'apt-get is in /usr/bin on this Debian machine');
    assert.equal(facts.agent?.version, '1.2.3');
    assert.ok((facts.cpu?.count ?? 0) >= 1);
    assert.ok((facts.memory?.totalBytes ?? 0) > 0);
    assert.deepEqual(facts.disks?.map((d) => d.mount), ['/', dir]);
    assert.ok(facts.disks!.every((d) => d.totalBytes > 0 && d.freeBytes >= 0 && d.freeBytes <= d.totalBytes));
    assert.ok(Array.isArray(facts.network?.ips));
    assert.equal(JSON.stringify(facts).includes('undefined'), false);
  });

  it('deep-merges overrides', async () => {
    const facts = await collectFacts({ agentVersion: '1', overrides: { hostname: 'sim-01', os: { family: 'windows' }, rack: 'r7' } });
    assert.equal(facts.hostname, 'sim-01');
    assert.equal(facts.os?.family, 'windows');
    assert.equal(facts.os?.kernel, os.release());
    assert.equal(facts.rack, 'r7');
  });

  it('mergeFacts replaces arrays', () => {
    assert.deepEqual(mergeFacts({ network: { ips: ['a', 'b'], macs: ['m'] } }, { network: { ips: ['c'] } }), {
      network: { ips: ['c'], macs: ['m'] },
    });
  });
});

describe('readDmi', () => {
  it('reads vendor, model and serial; leaves out placeholders, control characters and unreadable files', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-dmi-'));
    try {
      await writeFile(path.join(dir, 'sys_vendor'), 'LENOVO\n');
      await writeFile(path.join(dir, 'product_name'), 'ThinkCentre M70q\x07\n');
      await writeFile(path.join(dir, 'product_serial'), 'To Be Filled By O.E.M.\n');
      assert.deepEqual(await readDmi(dir), { vendor: 'LENOVO', model: 'ThinkCentre M70q' });
      await writeFile(path.join(dir, 'product_serial'), 'PF3ABCDE\n');
      assert.deepEqual(await readDmi(dir), { vendor: 'LENOVO', model: 'ThinkCentre M70q', serial: 'PF3ABCDE' });
      assert.equal(await readDmi(path.join(dir, 'missing')), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
