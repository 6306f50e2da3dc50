/** Unit tests for `codeassist/suggestionReady` parsing (a verified replacement of a withdrawn suggestion). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import { READY_NOTIFICATION, SERVER_SETTINGS, SETTING_KEYS, parseSuggestionReady } from '../protocol';

test('suggestionReady params are parsed with the place the replacement is for', () => {
  assert.equal(READY_NOTIFICATION, 'codeassist/suggestionReady');
  const params = {
    textDocument: { uri: 'file:///p/a.py', version: 7 },
    position: { line: 2, character: 11 },
    text: '"summary"',
    label: 'verified: tests pass',
    replaces: "', '.join(values)",
  };
  assert.deepEqual(parseSuggestionReady(params), {
    uri: 'file:///p/a.py',
    version: 7,
    line: 2,
    character: 11,
    text: '"summary"',
    label: 'verified: tests pass',
  });
});

test('malformed suggestionReady params are ignored, never thrown', () => {
  for (const bad of [undefined, null, 3, {}, { textDocument: { uri: 'x' } }, { textDocument: { uri: 'x', version: 1 }, position: { line: 0 } }]) {
    assert.equal(parseSuggestionReady(bad), undefined);
  }
});

test('verify_alternatives is forwarded as verifyAlternatives', () => {
  assert.equal(SERVER_SETTINGS.verify_alternatives, 'integer');
  assert.equal(SETTING_KEYS.verify_alternatives, 'verifyAlternatives');
});
