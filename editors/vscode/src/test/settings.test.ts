/** Unit tests for the shared protocol module (no server needed). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  buildServerSettings,
  didChangeConfigurationParams,
  documentLanguages,
  explainCommandFromData,
  getterFromObject,
  parseStatus,
  serverCommand,
  statusBarText,
} from '../protocol';

test('server settings keep set, valid values and drop client-only and unset ones', () => {
  const problems: string[] = [];
  const s = buildServerSettings(
    getterFromObject({
      serverPath: '/x/codeassist',
      model: ' tiny ',
      threads: 2,
      n_ctx: null,
      max_tokens: 'many',
      verify: 'sandbox',
      verify_actions: 'off',
      sandbox_image: '',
      languages: ['python'],
    }),
    problems,
  );
  assert.deepEqual(s, { model: 'tiny', threads: 2, verify: 'sandbox', verify_actions: 'off', languages: ['python'] });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /codeassist\.max_tokens/);
  assert.deepEqual(buildServerSettings(getterFromObject({ verify: 'maybe', verify_actions: 'always' })), {});
});

test('didChangeConfiguration params use the codeassist section', () => {
  assert.deepEqual(didChangeConfigurationParams(getterFromObject({ debounce_ms: 10 })), {
    settings: { codeassist: { debounce_ms: 10 } },
  });
});

test('server command defaults to codeassist serve on PATH', () => {
  assert.deepEqual(serverCommand(undefined, undefined), { command: 'codeassist', args: ['serve'] });
  assert.deepEqual(serverCommand(' /opt/ca ', ['--log-file', '/tmp/l', 3]), {
    command: '/opt/ca',
    args: ['serve', '--log-file', '/tmp/l'],
  });
});

test('document languages follow the languages setting', () => {
  assert.deepEqual(documentLanguages(['go', 'tsx']), ['go', 'typescriptreact']);
  const all = documentLanguages(null);
  for (const id of ['python', 'javascriptreact', 'typescriptreact', 'cpp']) assert.ok(all.includes(id), id);
});

test('status payloads are validated and rendered', () => {
  assert.equal(parseStatus({ state: 'weird' }), undefined);
  assert.equal(parseStatus(null), undefined);
  const s = parseStatus({ state: 'ready', message: 'ok', model: 'qwen', lastLatencyMs: 123.4, verification: 'on' });
  assert.deepEqual(s, {
    state: 'ready', message: 'ok', model: 'qwen', lastLatencyMs: 123.4, verification: 'on', lastCheck: null,
  });
  const { text, tooltip } = statusBarText(s);
  assert.equal(text, '$(sparkle) codeassist 123ms');
  assert.match(tooltip, /model: qwen/);
  const verified = parseStatus({ state: 'ready', lastCheck: { label: 'verified: tests pass', reason: '', shown: true } });
  assert.equal(statusBarText(verified).text, '$(sparkle) codeassist $(pass)');
  const hidden = parseStatus({ state: 'ready', lastCheck: { label: 'failed', reason: 'tests fail', shown: false } });
  assert.equal(statusBarText(hidden).text, '$(sparkle) codeassist $(close)');
  assert.match(statusBarText(hidden).tooltip, /last suggestion: failed \(tests fail\), hidden/);
  assert.equal(parseStatus({ state: 'ready', lastCheck: { shown: true } })?.lastCheck, null);
  assert.match(statusBarText(parseStatus({ state: 'loading' })).text, /loading~spin/);
  assert.match(statusBarText(parseStatus({ state: 'error', message: 'boom' })).tooltip, /boom/);
  assert.match(statusBarText(undefined).text, /codeassist/);
});

test('explain actions deferred to codeAction/resolve get their command from data', () => {
  const range = { start: { line: 1, character: 0 }, end: { line: 2, character: 3 } };
  assert.deepEqual(explainCommandFromData('codeassist: Explain', { explain: { uri: 'file:///a.py', range } }), {
    title: 'codeassist: Explain',
    command: 'codeassist.explain',
    arguments: ['file:///a.py', range],
  });
  assert.equal(explainCommandFromData('codeassist: Fix', { uri: 'file:///a.py', startLine: 1 }), undefined);
  assert.equal(explainCommandFromData('x', undefined), undefined);
});
