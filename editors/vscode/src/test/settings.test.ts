/** Unit tests for the shared protocol module (no server needed). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  SERVER_SETTINGS,
  SETTING_KEYS,
  buildServerSettings,
  enclosingName,
  explainTitle,
  fixErrorMessage,
  fixOutcome,
  formatLatency,
  parseFixTitle,
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
  assert.match(problems[0], /codeassist\.maxTokens/);
  assert.deepEqual(buildServerSettings(getterFromObject({ verify: 'maybe', verify_actions: 'always' })), {});
  // The fix model and budget (server fix_model / fix_budget_ms) go to the server like the others.
  assert.deepEqual(buildServerSettings(getterFromObject({ fix_model: ' completion ', fix_budget_ms: 45000 })), {
    fix_model: 'completion',
    fix_budget_ms: 45000,
  });
  // The Settings editor's empty defaults ("" = embedded model, [] = all languages) are not sent.
  assert.deepEqual(buildServerSettings(getterFromObject({ model: '', languages: [], sandbox_image: '' })), {});
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
    acceptance: null, lastPartial: false, busy: false, busyReason: null,
  });
  const { text, tooltip } = statusBarText(s);
  // The server's lastLatencyMs (the request's arrival to its answer) goes in the tooltip; the status bar shows what
  // the editor waited for the last suggestion it showed.
  assert.equal(text, '$(sparkle) codeassist');
  assert.match(tooltip, /model: qwen/);
  assert.match(tooltip, /last completion request answered in 123 ms/);
  assert.doesNotMatch(tooltip, /busy|partial|model time/);
  assert.equal(statusBarText(s, 1712).text, '$(sparkle) codeassist 1.7 s');
  assert.match(statusBarText(s, 1712).tooltip, /last suggestion shown after 1\.7 s/);
  assert.equal(statusBarText(s, 85.4).text, '$(sparkle) codeassist 85 ms');
  const verified = parseStatus({ state: 'ready', lastCheck: { label: 'verified: tests pass', reason: '', shown: true } });
  assert.equal(statusBarText(verified).text, '$(sparkle) codeassist · $(pass) verified');
  const unverified = parseStatus({ state: 'ready', lastCheck: { label: 'unverified', reason: 'syntax checked only' } });
  assert.equal(statusBarText(unverified, 900).text, '$(sparkle) codeassist 900 ms · unverified');
  assert.match(statusBarText(unverified).tooltip, /last suggestion: unverified \(syntax checked only\)/);
  const hidden = parseStatus({ state: 'ready', lastCheck: { label: 'failed', reason: 'tests fail', shown: false } });
  assert.equal(statusBarText(hidden).text, '$(sparkle) codeassist · $(close) hidden');
  assert.match(statusBarText(hidden).tooltip, /last suggestion: failed \(tests fail\), hidden/);
  assert.doesNotMatch(statusBarText(hidden).tooltip, /searching|replaces/);
  // verify = sandbox: the withdrawn suggestion's replacement is searched for, then found or not (verify_alternatives)
  const failed = { label: 'failed', reason: 'tests fail', shown: false };
  const searching = parseStatus({ state: 'ready', lastCheck: { ...failed, alternatives: 'searching' } });
  assert.equal(statusBarText(searching).text, '$(sparkle) codeassist · $(close) hidden · $(search) searching');
  assert.match(statusBarText(searching).tooltip, /withdrawn: its tests fail; searching for another suggestion/);
  const none = parseStatus({
    state: 'ready', lastCheck: { ...failed, alternatives: 'none', alternativesSearch: { tried: 3 } },
  });
  assert.equal(statusBarText(none).text, '$(sparkle) codeassist · $(close) hidden');
  assert.match(statusBarText(none).tooltip, /no other suggestion passed them \(3 tried\)/);
  const found = parseStatus({
    state: 'ready',
    lastCheck: { label: 'verified: tests pass', reason: '', shown: true, alternatives: 'found', alternativesSearch: { tried: 2 } },
  });
  assert.equal(statusBarText(found).text, '$(sparkle) codeassist · $(pass) verified');
  assert.match(statusBarText(found).tooltip, /it replaces a suggestion whose tests failed \(2 tried\)/);
  assert.equal(parseStatus({ state: 'ready', lastCheck: { ...failed, alternatives: 'maybe' } })?.lastCheck?.alternatives, null);
  assert.equal(parseStatus({ state: 'ready', lastCheck: { shown: true } })?.lastCheck, null);
  // busy / busyReason / lastPartial (servers that report them): in the status bar text and the tooltip.
  const busy = parseStatus({
    state: 'ready', lastLatencyMs: 5100, lastPartial: true, busy: true,
    busyReason: '2 of the last 5 completions reached the time cap (load average 6.1 on 2 cores)',
  });
  assert.equal(busy?.busy, true);
  assert.equal(statusBarText(busy, 5200).text, '$(sparkle) codeassist 5.2 s · partial · $(watch) busy');
  assert.match(statusBarText(busy).tooltip, /last completion request answered in 5\.1 s \(partial: cut by the time cap\)/);
  assert.match(statusBarText(busy).tooltip, /busy: 2 of the last 5 completions reached the time cap \(load average 6\.1/);
  const vague = parseStatus({ state: 'ready', busy: true, busyReason: null, lastPartial: 'yes' });
  assert.equal(vague?.lastPartial, false);
  assert.match(statusBarText(vague).tooltip, /busy: completions are slowed down/);
  assert.equal(parseStatus({ state: 'ready', busy: false, busyReason: 'stale' })?.busyReason, null);
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

test('every server setting has a camelCase VS Code key (the Settings editor titles come from keys)', () => {
  assert.deepEqual(Object.keys(SETTING_KEYS).sort(), Object.keys(SERVER_SETTINGS).sort());
  for (const key of Object.values(SETTING_KEYS)) assert.match(key, /^[a-z][A-Za-z]*$/, key);
  assert.equal(formatLatency(999.6), '1000 ms');
  assert.equal(formatLatency(1000), '1.0 s');
});

test('fix titles give the verdict; resolve errors become readable messages', () => {
  assert.deepEqual(parseFixTitle("codeassist: Fix “expected ':' (syntax)” (unverified (no tests))"), {
    problem: "expected ':' (syntax)",
    verdict: 'unverified (no tests)',
  });
  assert.equal(parseFixTitle('codeassist: Explain'), undefined);
  assert.deepEqual(fixOutcome('codeassist: Fix “syntax error” (verified: tests pass)'), {
    message: 'codeassist: fix applied for “syntax error” — verified: tests pass',
    level: 'info',
  });
  assert.equal(fixOutcome('codeassist: Fix “x” (unverified (sandbox unavailable))').level, 'warning');
  assert.equal(
    fixErrorMessage(-32803, 'Request codeAction/resolve failed. the model proposed no change for this problem'),
    'codeassist: no fix offered: the model proposed no change for this problem.',
  );
  assert.match(fixErrorMessage(-32801, 'content modified') ?? '', /file changed/);
  assert.equal(fixErrorMessage(-32800, 'cancelled'), undefined);
  assert.doesNotMatch(fixErrorMessage(-32603, 'boom') ?? '', /-32603|Request/);
});

test('explanations are titled by the enclosing function', () => {
  const py = ['class Stats:', '    def median(self, values):', '        ordered = sorted(values)', '        return ordered'];
  assert.equal(enclosingName(py, 2, 3), 'median');
  assert.equal(enclosingName(py, 1, 3), 'median');
  assert.equal(enclosingName(py, 0, 3), 'Stats');
  const c = ['static int add(int a, int b) {', '  if (a > b) {', '    return a + b;', '  }', '}'];
  assert.equal(enclosingName(c, 2, 2), 'add');
  const go = ['func (s *Server) Serve(addr string) error {', '\treturn nil', '}'];
  assert.equal(enclosingName(go, 1, 1), 'Serve');
  const ts = ['export const total = (xs: number[]) =>', '  xs.reduce((a, b) => a + b, 0);'];
  assert.equal(enclosingName(ts, 1, 1), 'total');
  assert.equal(enclosingName(['x = 1', 'y = 2'], 0, 1), undefined);
  assert.equal(explainTitle('median', 'stats.py', 10, 16), 'Explain median');
  assert.equal(explainTitle(undefined, 'stats.py', 10, 16), 'Explain stats.py:11-17');
});
