/** Unit tests of the `codeassist/warm` sender (no server needed). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import { WarmOnRest, WarmParams } from '../warm';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('one warm-up where the cursor came to rest, none for the places it left', async () => {
  const sent: WarmParams[] = [];
  const warm = new WarmOnRest((p) => sent.push(p), 30);
  warm.rest('file:///a.py', 1, 2);
  warm.rest('file:///b.py', 10, 4); // another click before the first rested
  await sleep(80);
  assert.deepEqual(sent, [{ textDocument: { uri: 'file:///b.py' }, position: { line: 10, character: 4 } }]);
});

test('typing cancels a warm-up still waiting', async () => {
  const sent: WarmParams[] = [];
  const warm = new WarmOnRest((p) => sent.push(p), 30);
  warm.rest('file:///a.py', 1, 2);
  warm.cancel();
  await sleep(80);
  assert.deepEqual(sent, []);
  warm.dispose();
});
