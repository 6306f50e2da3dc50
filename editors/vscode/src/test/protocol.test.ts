/**
 * The extension's protocol path against the real `codeassist serve` (real model, no mocks), driven with
 * vscode-jsonrpc: the same launch command, initializationOptions and status parsing as the extension (src/protocol.ts).
 *
 * Server: $CODEASSIST_SERVER, else the repository's .venv/bin/codeassist, else `codeassist` on PATH.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { MessageConnection, StreamMessageReader, StreamMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';

import { suggestionId } from '../acceptance';
import {
  EXPLAIN_COMMAND,
  STATUS_NOTIFICATION,
  explainArguments,
  explainCommandFromData,
  StatusParams,
  getterFromObject,
  initializationOptions,
  parseStatus,
  serverCommand,
} from '../protocol';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const READY_TIMEOUT_MS = Number(process.env.CODEASSIST_READY_TIMEOUT_MS ?? 180_000);

// What a user would put in settings.json; turned into initializationOptions exactly as the extension does.
// A generous timeout_ms: CI machines are shared, and a cut-off generation would come back empty.
const USER_SETTINGS = { max_tokens: 16, debounce_ms: 0, timeout_ms: 60_000, verify: 'off', serverPath: 'not-sent' };

const SOURCE = [
  '"""Statistics helpers."""',
  '',
  '',
  'def mean(values: list[float]) -> float:',
  '    """Return the arithmetic mean of values."""',
  '    if not values:',
  '        raise ValueError("mean of empty list")',
  '    return ',
  '',
  '',
  'def median(values: list[float]) -> float:',
  '    """Return the median of values."""',
  '    ordered = sorted(values)',
  '    middle = len(ordered) // 2',
  '    if len(ordered) % 2:',
  '        return ordered[middle]',
  '    return (ordered[middle - 1] + ordered[middle]) / 2',
  '',
].join('\n');

function serverPath(): string {
  if (process.env.CODEASSIST_SERVER) return process.env.CODEASSIST_SERVER;
  const venv = path.join(REPO, '.venv', 'bin', 'codeassist');
  return fs.existsSync(venv) ? venv : 'codeassist';
}

let proc: ChildProcess;
let conn: MessageConnection;
let workspace: string;
let uri: string;
let stderr = '';
const statuses: StatusParams[] = [];
const statusWaiters: Array<() => void> = [];
let serverDied: Promise<never>;

/** A request that fails with the server's stderr if the server process dies or never starts. */
function call<T = any>(method: string, params?: unknown): Promise<T> {
  return Promise.race([conn.sendRequest<T>(method, params), serverDied]);
}

function waitForReady(timeoutMs: number): Promise<StatusParams> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const last = statuses[statuses.length - 1];
      if (last?.state === 'ready') {
        resolve(last);
        return true;
      }
      if (last?.state === 'error') {
        reject(new Error(`server reported error: ${last.message}`));
        return true;
      }
      return false;
    };
    if (check()) return;
    const timer = setTimeout(
      () => reject(new Error(`no codeassist/status ready within ${timeoutMs} ms; statuses=${JSON.stringify(statuses)}; stderr=${stderr.slice(-2000)}`)),
      timeoutMs,
    );
    const waiter = (): void => {
      if (check()) clearTimeout(timer);
      else statusWaiters.push(waiter);
    };
    statusWaiters.push(waiter);
  });
}

before(async () => {
  workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'codeassist-vscode-'));
  const file = path.join(workspace, 'stats.py');
  fs.writeFileSync(file, SOURCE);
  uri = pathToFileURL(file).href;

  const { command, args } = serverCommand(serverPath(), (process.env.CODEASSIST_SERVER_ARGS ?? '').split(' ').filter(Boolean));
  proc = spawn(command, args, { cwd: workspace, stdio: ['pipe', 'pipe', 'pipe'] });
  serverDied = new Promise<never>((_, reject) => {
    const fail = (why: string): void =>
      reject(new Error(`\`${command} ${args.join(' ')}\` ${why}; stderr:\n${stderr.slice(-3000)}`));
    proc.once('error', (err) => fail(`could not start: ${err.message}`));
    proc.once('exit', (code, signal) => setTimeout(() => fail(`exited (code ${code}, signal ${signal})`), 100));
  });
  serverDied.catch(() => undefined); // only reported through the requests that race it
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  conn = createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  conn.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
    const s = parseStatus(params);
    assert.ok(s, `malformed ${STATUS_NOTIFICATION}: ${JSON.stringify(params)}`);
    statuses.push(s);
    for (const w of statusWaiters.splice(0)) w();
  });
  conn.onNotification(() => undefined); // $/progress, window/logMessage, ...
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onRequest('client/registerCapability', () => null);
  conn.onRequest('window/showDocument', () => ({ success: true }));
  conn.onRequest('window/showMessageRequest', () => null);
  conn.onRequest('workspace/configuration', (p: { items: unknown[] }) => p.items.map(() => initializationOptions(getterFromObject(USER_SETTINGS))));
  conn.listen();
});

after(async () => {
  if (proc && proc.exitCode === null) {
    try {
      await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 5000))]);
      await conn.sendNotification('exit');
    } catch {
      // connection already gone
    }
    const exited = new Promise((r) => proc.once('exit', r));
    const killed = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
  }
  conn?.dispose();
  fs.rmSync(workspace, { recursive: true, force: true });
});

test('initialize advertises inline completion and the explain command', { timeout: 60_000 }, async () => {
  const problems: string[] = [];
  const initOptions = initializationOptions(getterFromObject(USER_SETTINGS), problems);
  assert.deepEqual(problems, []);
  assert.deepEqual(initOptions, { max_tokens: 16, debounce_ms: 0, timeout_ms: 60_000, verify: 'off' });
  const result: any = await call('initialize', {
    processId: process.pid,
    clientInfo: { name: 'codeassist-vscode-test', version: '0.1.0' },
    rootUri: pathToFileURL(workspace).href,
    workspaceFolders: [{ uri: pathToFileURL(workspace).href, name: 'ws' }],
    initializationOptions: initOptions,
    capabilities: {
      general: { positionEncodings: ['utf-16'] },
      window: { workDoneProgress: true, showDocument: { support: true } },
      workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } },
      textDocument: {
        synchronization: { dynamicRegistration: false },
        inlineCompletion: { dynamicRegistration: false },
        completion: { completionItem: { snippetSupport: false } },
        // As vscode-languageclient 10 declares it.
        codeAction: {
          codeActionLiteralSupport: { codeActionKind: { valueSet: ['', 'quickfix', 'refactor'] } },
          dataSupport: true,
          resolveSupport: { properties: ['edit', 'command'] },
        },
      },
    },
  });
  const caps = result.capabilities;
  assert.ok(caps.inlineCompletionProvider, `no inlineCompletionProvider in ${JSON.stringify(caps)}`);
  assert.ok(caps.executeCommandProvider?.commands?.includes(EXPLAIN_COMMAND), JSON.stringify(caps.executeCommandProvider));
  await conn.sendNotification('initialized', {});
  await conn.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'python', version: 1, text: SOURCE },
  });
});

test('codeassist/status reaches ready', { timeout: READY_TIMEOUT_MS + 5_000 }, async () => {
  const ready = await Promise.race([waitForReady(READY_TIMEOUT_MS), serverDied]);
  assert.equal(ready.state, 'ready');
  assert.ok(['on', 'off', 'unavailable'].includes(ready.verification));
});

test('textDocument/inlineCompletion returns a non-empty item at the cursor', { timeout: 120_000 }, async () => {
  const position = { line: 7, character: 11 }; // after "    return "
  const result: any = await call('textDocument/inlineCompletion', {
    textDocument: { uri },
    position,
    context: { triggerKind: 1 },
  });
  const items = Array.isArray(result) ? result : result?.items;
  assert.ok(Array.isArray(items) && items.length > 0, `no items: ${JSON.stringify(result)}`);
  const item = items[0];
  const text = typeof item.insertText === 'string' ? item.insertText : item.insertText?.value;
  assert.equal(typeof text, 'string');
  assert.ok(text.trim().length > 0, `empty insertText: ${JSON.stringify(item)}`);
  if (item.range) {
    assert.equal(item.range.start.line, position.line);
    assert.ok(item.range.start.character <= position.character);
  }
  // the id the extension reports acceptance with (acceptance.ts) is where it looks for it
  assert.ok(suggestionId(item.command), `no codeassist.didAccept command: ${JSON.stringify(item)}`);
});

test('codeassist.explain via workspace/executeCommand returns Markdown', { timeout: 180_000 }, async () => {
  const range = { start: { line: 3, character: 0 }, end: { line: 7, character: 11 } };
  const actions: any[] = await call<any[]>('textDocument/codeAction', {
    textDocument: { uri },
    range,
    context: { diagnostics: [], triggerKind: 1 },
  });
  assert.ok(Array.isArray(actions), JSON.stringify(actions));
  const explain = actions.find((a) => a.title === 'codeassist: Explain');
  assert.ok(explain, `no explain action in ${JSON.stringify(actions.map((a) => a.title))}`);
  // The extension's provideCodeActions middleware: the command, or one built from data for resolve-deferred actions.
  const cmd = explain.command ?? explainCommandFromData(explain.title, explain.data);
  assert.equal(cmd?.command, EXPLAIN_COMMAND, JSON.stringify(explain));
  assert.equal(cmd.arguments?.[0], uri, JSON.stringify(cmd));
  // As the extension does: the action's [uri, range], plus {showDocument: false} since it shows the Markdown itself.
  const args = explainArguments(cmd.arguments[0], cmd.arguments[1], false);
  const result: any = await call('workspace/executeCommand', { command: EXPLAIN_COMMAND, arguments: args });
  const markdown = typeof result === 'string' ? result : result?.value;
  assert.equal(typeof markdown, 'string', JSON.stringify(result));
  assert.ok(markdown.trim().length > 0, 'empty explanation');
});
