/** Unit tests of the client's acceptance tracking and the suggestion switches (no server needed). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AcceptTracker,
  acceptanceLine,
  parseAcceptance,
  suggestionId,
  suggestionsEnabled,
  toggledLanguages,
} from '../acceptance';
import { parseStatus, statusBarText } from '../protocol';

test('the suggestion id comes from the item command codeassist.didAccept', () => {
  assert.equal(suggestionId({ command: 'codeassist.didAccept', title: '', arguments: [{ id: 's1-2' }] }), 's1-2');
  assert.equal(suggestionId({ command: 'other', arguments: [{ id: 's1' }] }), undefined);
  assert.equal(suggestionId(undefined), undefined);
});

test('accept-next-word is a partial acceptance; typing and full acceptance are not reported', () => {
  const t = new AcceptTracker();
  t.show('a', 100, 'sum(values) / len(values)');
  assert.deepEqual(t.change(100, 0, 'sum('), { id: 'a', acceptedLength: 4 }); // Ctrl+Right
  assert.equal(t.change(104, 0, 'v'), undefined); // typed one matching character
  assert.deepEqual(t.change(105, 0, 'alues)'), { id: 'a', acceptedLength: 11 }); // next word: cumulative
  assert.equal(t.change(111, 0, ' / len(values)'), undefined); // the rest: the item's command reports it
  assert.equal(t.id, undefined);
});

test('after an accept command one character is an acceptance too', () => {
  const t = new AcceptTracker();
  t.show('e', 0, '.sqrt(x)');
  assert.equal(t.change(0, 0, '.'), undefined); // typed
  t.show('f', 0, '.sqrt(x)');
  assert.deepEqual(t.change(0, 0, '.', true), { id: 'f', acceptedLength: 1 }); // codeassist.acceptNextWord
});

test('an item whose range starts over typed text; a rewrite of the taken part that continues it', () => {
  const t = new AcceptTracker();
  t.show('d', 200, 'math.sqrt((x2 - x1) ** 2)', 4); // "math" typed, the item covers it
  assert.deepEqual(t.change(204, 0, '.sqrt('), { id: 'd', acceptedLength: 10 });
  assert.deepEqual(t.change(200, 10, 'math.sqrt((x2'), { id: 'd', acceptedLength: 13 }); // the range rewritten
  assert.equal(t.change(200, 13, 'other'), undefined);
  assert.equal(t.id, undefined);
});

test('a change elsewhere or with other text ends the tracking', () => {
  const t = new AcceptTracker();
  t.show('b', 10, 'return a + b');
  assert.equal(t.change(10, 0, 'yield'), undefined);
  assert.equal(t.id, undefined);
  t.show('c', 10, 'return a + b');
  assert.equal(t.change(50, 0, 'return'), undefined);
  assert.equal(t.id, undefined);
});

test('switches: global off wins, then the per-language list; toggling a language adds or removes it', () => {
  assert.equal(suggestionsEnabled(undefined, [], 'python'), true);
  assert.equal(suggestionsEnabled(false, [], 'python'), false);
  assert.equal(suggestionsEnabled(true, ['markdown'], 'markdown'), false);
  assert.deepEqual(toggledLanguages(['rust'], 'go'), ['go', 'rust']);
  assert.deepEqual(toggledLanguages(['go', 'rust'], 'go'), ['rust']);
  assert.deepEqual(toggledLanguages(undefined, 'go'), ['go']);
});

test("today's acceptance reaches the status tooltip; an off switch shows in the item", () => {
  const a = parseAcceptance({
    shown: 4, accepted: 2, acceptedFull: 1, acceptedPartial: 1, dismissed: 1, charsAccepted: 30,
    retained: { '120s': { chars: 30, present: 15 }, '30s': { chars: 30, present: 30 } },
  });
  assert.equal(acceptanceLine(a), 'today: 2 of 4 suggestions accepted (50%), 30 characters; 100% still there after 30s, 50% still there after 120s');
  assert.equal(acceptanceLine(parseAcceptance({ shown: 0 })), 'today: no suggestions shown yet');
  const status = parseStatus({ state: 'ready', message: 'ok', acceptance: { shown: 1, accepted: 1, charsAccepted: 5 } });
  assert.ok(status);
  assert.match(statusBarText(status).tooltip, /today: 1 of 1 suggestions accepted \(100%\), 5 characters/);
  assert.equal(statusBarText(status, null, 'for python').text, '$(circle-slash) codeassist off');
});
