import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KINDS } from '../../../../schemas/kinds.ts';
import { didYouMean, editDistance, suggestionSuffix } from './did-you-mean.ts';

describe('editDistance', () => {
  const cases: Array<[string, string, number]> = [
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['nginx', 'nginx', 0],
    ['kitten', 'sitting', 3],
    ['flaw', 'lawn', 2],
    // A transposition is two edits (Levenshtein, not Damerau).
    ['ngnix', 'nginx', 2],
    ['hostnmae', 'hostname', 2],
    ['matchLabel', 'matchLabels', 1],
    // Case-insensitive.
    ['Software', 'software', 0],
    ['Softwear', 'Software', 2],
  ];
  for (const [a, b, want] of cases) {
    it(`${JSON.stringify(a)} ↔ ${JSON.stringify(b)} = ${want}`, () => {
      assert.equal(editDistance(a, b), want);
      assert.equal(editDistance(b, a), want, 'symmetric');
    });
  }
});

describe('didYouMean', () => {
  const SPEC_KEYS = ['description', 'hostname', 'macAddresses', 'serial', 'uuid', 'profile', 'firmware'];
  const cases: Array<{ input: string; candidates: readonly string[]; want: string | undefined; why: string }> = [
    { input: 'hostnmae', candidates: SPEC_KEYS, want: 'hostname', why: 'a transposed key' },
    { input: 'matchLabel', candidates: ['matchLabels', 'matchFacts'], want: 'matchLabels', why: 'a missing letter' },
    { input: 'Softwear', candidates: KINDS, want: 'Software', why: 'a misspelt kind' },
    { input: 'software', candidates: KINDS, want: 'Software', why: 'case alone: distance 0' },
    { input: 'ngnix', candidates: ['nginx', 'curl', 'ufw'], want: 'nginx', why: 'short words still get 2 edits' },
    { input: 'web-server', candidates: ['web-servers', 'db-servers'], want: 'web-servers', why: 'the nearest wins' },
    { input: 'ubuntu-24.4', candidates: ['ubuntu-24.04', 'debian-12'], want: 'ubuntu-24.04', why: 'a missing digit' },
    { input: 'bsh', candidates: ['sh', 'bash', 'powershell', 'pwsh', 'python'], want: 'bash', why: 'tie sh/bash → the one that sorts first' },
    { input: 'nginy', candidates: ['nginz', 'nginx'], want: 'nginx', why: 'ties go to the candidate that sorts first, whatever the order given' },
    { input: 'kiosk', candidates: ['web-server', 'db-server'], want: undefined, why: 'nothing close' },
    { input: 'web', candidates: ['web-server'], want: undefined, why: 'too many letters added' },
    { input: 'verylongkeyname', candidates: ['verylongkeynames'], want: 'verylongkeynames', why: 'a third of a long word' },
    { input: 'os', candidates: ['db'], want: undefined, why: 'no wild guess: every character replaced' },
    { input: 'x', candidates: ['y', 'xy'], want: undefined, why: 'a one-letter input is never a typo of anything' },
    { input: 'nginx', candidates: [], want: undefined, why: 'no candidates' },
  ];
  for (const { input, candidates, want, why } of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)} (${why})`, () => {
      assert.equal(didYouMean(input, candidates), want);
      assert.equal(didYouMean(input, [...candidates].reverse()), want, 'independent of candidate order');
    });
  }

  it('accepts any iterable, such as the set of defined names', () => {
    assert.equal(didYouMean('web-eu-10', new Set(['web-eu-01', 'db-us-01'])), 'web-eu-01');
  });
});

describe('suggestionSuffix', () => {
  it('is empty without a suggestion and quotes one when there is', () => {
    assert.equal(suggestionSuffix(undefined), '');
    assert.equal(suggestionSuffix('matchLabels'), ' (did you mean "matchLabels"?)');
  });
});
