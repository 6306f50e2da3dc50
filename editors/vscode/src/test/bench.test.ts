/** Unit tests for the benchmark command's argument building and output handling (no process, no VS Code). */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';

import { Tail, benchCommand, failureMessage, progressText, reportPath, spawnFailureMessage } from '../benchcmd';

test('bench command runs the configured CLI on the folder with a small default', () => {
  assert.deepEqual(benchCommand(undefined, '/ws/my repo'), {
    command: 'codeassist',
    args: ['bench', 'repo', '--holes', '10', '/ws/my repo'],
  });
  assert.deepEqual(benchCommand(' /venv/bin/codeassist ', '/ws', 3).args, ['bench', 'repo', '--holes', '3', '/ws']);
  // the editor's server settings go along, so the benchmark measures what the editor gets
  assert.deepEqual(benchCommand('ca', '/ws', 1, { model: 'tiny', max_tokens: 16, languages: ['python'] }).args, [
    'bench', 'repo', '--holes', '1',
    '--set', 'model="tiny"', '--set', 'max_tokens=16', '--set', 'languages=["python"]',
    '/ws',
  ]);
  assert.equal(benchCommand('', '/ws', 0).args[3], '10'); // invalid counts fall back to the default
  assert.equal(benchCommand('', '/ws', 2.5).args[3], '10');
});

test('the report is found from the CLI summary line', () => {
  const out = '# codeassist bench repo: tiny\n\n| a | b |\n\nRows, report.json and report.md: /cache/bench/runs/tiny-1a2b\n';
  assert.equal(reportPath(out), path.join('/cache/bench/runs/tiny-1a2b', 'report.md'));
  assert.equal(reportPath('{"summary": 1}'), undefined);
});

test('stderr tail keeps the last lines; progress redraws count as lines', () => {
  const t = new Tail(3);
  t.push('tiny: tracing the test suite once (cached afterwards)…\n');
  t.push('\rtiny codeassist [####----------------] 1/5  shown 1  passed 0  3 s\x1b[K');
  assert.equal(progressText(t.last()), '1/5 · shown 1 · passed 0 · 3 s');
  t.push('\rtiny codeassist [####################] 5/5  shown 4  passed 3  9 s\x1b[K\nTraceback (most recent');
  t.push(' call last):\nerror: docker is not running\n');
  assert.equal(
    t.text(),
    'tiny codeassist [####################] 5/5  shown 4  passed 3  9 s\nTraceback (most recent call last):\n' +
      'error: docker is not running',
  );
  assert.equal(progressText(undefined), 'starting…');
  assert.equal(progressText('tiny: tracing the test suite'), 'tiny: tracing the test suite');
});

test('failures say the exit code and the last stderr lines', () => {
  assert.equal(
    failureMessage(2, null, 'error: /x is not a directory\n'),
    'codeassist: the benchmark failed (exit code 2): error: /x is not a directory',
  );
  assert.equal(failureMessage(null, 'SIGKILL', ''), 'codeassist: the benchmark failed (killed by SIGKILL).');
  assert.match(spawnFailureMessage('/nope/codeassist', 'spawn /nope/codeassist ENOENT'), /not found.*serverPath/);
  assert.match(spawnFailureMessage('ca', 'EACCES'), /could not run "ca bench repo" \(EACCES\)/);
});
