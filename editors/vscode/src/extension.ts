/**
 * VS Code client for `codeassist serve`.
 *
 * Inline completion (`textDocument/inlineCompletion`, LSP 3.18) is provided by vscode-languageclient 10's built-in
 * InlineCompletionItemFeature as soon as the server advertises `inlineCompletionProvider`; code actions and
 * `window/showDocument` are standard client features too. This file wires what is codeassist-specific: settings ->
 * initializationOptions / didChangeConfiguration, the status bar item (status.ts), explanations rendered in the
 * Markdown preview (explain.ts), fix progress and verdicts (fix.ts), and the commands.
 */
import * as vscode from 'vscode';
import {
  CompletionRequest,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';

import { BENCHMARK, benchmarkWorkspace } from './bench';
import { ExplainView } from './explain';
import { resolveCodeActionMiddleware } from './fix';
import { InlineRequests } from './inline';
import { MENU, SHOW_LOG, SHOW_STATS, TOGGLE, TOGGLE_LANGUAGE, enabledFor, menu, offReason, showStats, toggle, toggleLanguage } from './menu';
import { WARM_NOTIFICATION, WarmOnRest } from './warm';
import {
  EXPLAIN_COMMAND,
  RELAUNCH_KEYS,
  SECTION,
  SETTING_KEYS,
  STATUS_NOTIFICATION,
  WITHDRAW_NOTIFICATION,
  READY_NOTIFICATION,
  parseSuggestionReady,
  ServerSettingName,
  buildServerSettings,
  didChangeConfigurationParams,
  documentLanguages,
  enclosingName,
  explainArguments,
  explainCommandFromData,
  explainTitle,
  initializationOptions,
  parseStatus,
  serverCommand,
} from './protocol';
import { StatusItem } from './status';

let client: LanguageClient | undefined;
let warm: WarmOnRest | undefined;
let status: StatusItem;
let explainView: ExplainView;
let inline: InlineRequests;
let output: vscode.LogOutputChannel;
let ownExplainCommand: vscode.Disposable | undefined;

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/**
 * Only values the user actually set (user, workspace or folder settings) go to the server: the defaults shown in the
 * settings UI are the server's own, and sending them would override `[tool.codeassist]` in the workspace's
 * pyproject.toml / .codeassist.toml, which the server ranks below initializationOptions. Each server setting is read
 * from its camelCase key, else from its deprecated snake_case alias (protocol.SETTING_KEYS).
 */
function getter(): (name: string) => unknown {
  const cfg = config();
  const userValue = (key: string): unknown => {
    const i = cfg.inspect(key);
    return i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
  };
  return (name) => {
    const key = SETTING_KEYS[name as ServerSettingName];
    return (key !== undefined ? userValue(key) : undefined) ?? userValue(name);
  };
}

/**
 * The language client without the completion-list feature. The server's `textDocument/completion` is its fallback
 * for clients without inline completion; VS Code has inline completion, and with both the editor asks twice per
 * keystroke for one document, where the server's newest-wins rule cancels one with the other (and the
 * "codeassist (AI)" list item duplicates the ghost text).
 */
class CodeassistClient extends LanguageClient {
  override registerFeature(feature: Parameters<LanguageClient['registerFeature']>[0]): void {
    const method = (feature as { registrationType?: { method?: string } }).registrationType?.method;
    if (method === CompletionRequest.method) return;
    super.registerFeature(feature);
  }
}

/** The documents the server is told about (and completes). */
function documentSelector(): { scheme: string; language: string }[] {
  return documentLanguages(getter()('languages')).flatMap((language) => [
    { scheme: 'file', language },
    { scheme: 'untitled', language },
  ]);
}

function createClient(): LanguageClient {
  const cfg = config();
  const { command, args } = serverCommand(cfg.get('serverPath'), cfg.get('serverArgs'));
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const problems: string[] = [];
  const initOptions = initializationOptions(getter(), problems);
  for (const p of problems) {
    void vscode.window.showWarningMessage(`codeassist: ${p}; using the server default.`);
  }
  const clientOptions: LanguageClientOptions = {
    documentSelector: documentSelector(),
    initializationOptions: initOptions,
    outputChannel: output,
    middleware: {
      provideInlineCompletionItems: inline.provide,
      resolveCodeAction: resolveCodeActionMiddleware(() => client),
      // Streamed explanations fill their preview (explain.ts) instead of the status bar.
      handleWorkDoneProgress: (token, params, next) => {
        if (!explainView.progress(token, params)) next(token, params);
      },
      // The server's `codeassist.explain` is registered as a VS Code command by the client (executeCommandProvider).
      // From the palette it comes without arguments: fill in the active selection; always show the Markdown result.
      // The request is sent here rather than through `next`, whose failure path shows vscode-languageclient's raw
      // "Request workspace/executeCommand failed" toast: explain() reports errors readably in the preview.
      executeCommand: async (cmd, cmdArgs, next) => {
        if (cmd !== EXPLAIN_COMMAND) return next(cmd, cmdArgs);
        return explain(cmdArgs, sendExplain);
      },
      provideCodeActions: async (document, range, context, token, next) => {
        const actions = await next(document, range, context, token);
        for (const action of actions ?? []) {
          if (action instanceof vscode.CodeAction && !action.command) {
            const cmd = explainCommandFromData(action.title, (action as { data?: unknown }).data);
            if (cmd) action.command = cmd;
          }
        }
        return actions;
      },
      // Answer the server's `workspace/configuration` pull for our section with the same filtered object as
      // initializationOptions (no client-only keys such as serverPath, no unset defaults).
      workspace: {
        configuration: async (params, token, next) => {
          const answers = await next(params, token);
          if (!Array.isArray(answers)) return answers;
          return params.items.map((item, i) =>
            item.section === SECTION ? buildServerSettings(getter()) : answers[i],
          );
        },
      },
    },
  };
  const c = new CodeassistClient('codeassist', 'codeassist', serverOptions, clientOptions);
  c.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
    const parsed = parseStatus(params);
    if (!parsed) return;
    // a warm-up asked while the model loaded was dropped: ask again where the cursor is now
    const wasReady = status.current?.state === 'ready';
    status.set(parsed);
    if (parsed.state === 'ready' && !wasReady) warmActive();
  });
  // verify = sandbox: a suggestion shown as "checking…" that failed its tests is withdrawn (hidden if still shown)
  c.onNotification(WITHDRAW_NOTIFICATION, (params: unknown) => {
    const uri = (params as { textDocument?: { uri?: unknown } } | undefined)?.textDocument?.uri;
    const editor = vscode.window.activeTextEditor;
    if (typeof uri === 'string' && editor && c.code2ProtocolConverter.asUri(editor.document.uri) === uri) {
      void vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    }
  });
  // verify_alternatives: a verified replacement is ready at the place of a withdrawn suggestion; ask again there
  // (a cache hit on the server) if the document is unchanged and the cursor has not moved
  c.onNotification(READY_NOTIFICATION, (params: unknown) => {
    const ready = parseSuggestionReady(params);
    const editor = vscode.window.activeTextEditor;
    if (!ready || !editor || c.code2ProtocolConverter.asUri(editor.document.uri) !== ready.uri) return;
    const cursor = editor.selection.active;
    const still = editor.selection.isEmpty && cursor.line === ready.line && cursor.character === ready.character;
    if (editor.document.version !== ready.version || !still || inline?.dismissedAt(editor.document, cursor)) return;
    void vscode.commands
      .executeCommand('editor.action.inlineSuggest.hide')
      .then(() => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger'));
  });
  c.onDidChangeState((e) => {
    if (e.newState === State.Stopped) {
      status.set(undefined);
    }
    if (e.newState === State.Starting) status.loading('starting server');
  });
  return c;
}

/** Arguments for the explain command: [uri, range] from the active editor (selection, or the current line). */
function explainArgsFromEditor(): unknown[] | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) return undefined;
  const sel = editor.selection;
  const range = sel.isEmpty ? editor.document.lineAt(sel.active.line).range : new vscode.Range(sel.start, sel.end);
  return explainArguments(
    client.code2ProtocolConverter.asUri(editor.document.uri),
    client.code2ProtocolConverter.asRange(range),
    false,
  );
}

/** "Explain median" for explain arguments [uri, range], from the open document's text. */
function titleFor(args: unknown[]): string {
  const uri = typeof args[0] === 'string' ? args[0] : '';
  const range = args[1] as { start?: { line?: number }; end?: { line?: number; character?: number } } | undefined;
  const first = range?.start?.line ?? 0;
  let last = range?.end?.line ?? first;
  if (range?.end?.character === 0 && last > first) last -= 1; // the server explains the lines before it too
  const target = uri ? vscode.Uri.parse(uri).toString() : '';
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target);
  const file = decodeURIComponent(uri.split('/').pop() || 'selection');
  const name = doc ? enclosingName(doc.getText().split(/\r?\n|\r/), first, last) : undefined;
  return explainTitle(name, file, first, last);
}

/** `workspace/executeCommand` codeassist.explain; rejects with the server's error (explain() reports it). */
async function sendExplain(args: unknown[]): Promise<unknown> {
  if (!client || client.state !== State.Running) throw new Error('the codeassist server is not running');
  return client.sendRequest(ExecuteCommandRequest.type, { command: EXPLAIN_COMMAND, arguments: args });
}

async function explain(args: unknown[] | undefined, send: (args: unknown[]) => Promise<unknown>): Promise<unknown> {
  let a = args && args.length > 0 ? args : explainArgsFromEditor();
  if (!a) {
    void vscode.window.showInformationMessage('codeassist: open a file and select code to explain.');
    return undefined;
  }
  // We show the Markdown ourselves, so ask the server not to open its generated file as well.
  if (a.length === 2) a = explainArguments(a[0] as string, a[1], false);
  const title = titleFor(a);
  const explanation = await explainView.open(title);
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `codeassist: ${title.replace(/^Explain/, 'explaining')}…` },
      () => send(a),
    );
    const markdown = typeof result === 'string' ? result : (result as { value?: unknown } | null)?.value;
    if (typeof markdown === 'string' && markdown.trim() !== '') explanation.done(markdown);
    else explanation.failed('no explanation came back (is the model still loading?)');
    return result;
  } catch (err) {
    const reason = (err as { message?: unknown } | null)?.message;
    const text = typeof reason === 'string' ? reason : String(err);
    explanation.failed(text);
    void vscode.window.showWarningMessage(`codeassist: could not explain this: ${text}`);
    return undefined;
  }
}

async function start(): Promise<void> {
  client = createClient();
  try {
    await client.start();
  } catch (err) {
    status.error(String(err));
    const open = 'Open Settings';
    const pick = await vscode.window.showErrorMessage(startFailure(String(err), config().get('serverPath')), open);
    if (pick === open) void vscode.commands.executeCommand('workbench.action.openSettings', 'codeassist.serverPath');
    return;
  }
  // If the server did not advertise `codeassist.explain` as an executeCommand command, the client did not register
  // a VS Code command for it: provide one that sends workspace/executeCommand directly.
  const registered = (await vscode.commands.getCommands(true)).includes(EXPLAIN_COMMAND);
  if (!registered && !ownExplainCommand) {
    ownExplainCommand = vscode.commands.registerCommand(EXPLAIN_COMMAND, (...args: unknown[]) =>
      explain(args, sendExplain),
    );
  }
}

/** `codeassist/warm` where the cursor of `editor` rests (warm.ts), for documents the server completes. */
function warmAt(editor: vscode.TextEditor | undefined): void {
  if (!editor || !warm || !client || client.state !== State.Running || !enabledFor(editor.document)) return;
  if (vscode.languages.match(documentSelector(), editor.document) === 0) return; // an output panel, a diff, …
  const cursor = editor.selection.active;
  warm.rest(client.code2ProtocolConverter.asUri(editor.document.uri), cursor.line, cursor.character);
}

function warmActive(): void {
  warmAt(vscode.window.activeTextEditor);
}

/** Why the server did not start, and how to fix it: a missing program is the usual reason. */
function startFailure(err: string, serverPath: unknown): string {
  const program = typeof serverPath === 'string' && serverPath.trim() ? serverPath.trim() : 'codeassist';
  if (/ENOENT|not found|no such file/i.test(err)) {
    return (
      `codeassist: the program "${program}" was not found. Install it with \`pip install codeassist\` ` +
      '(or `make setup` in its repository), then set "codeassist.serverPath" to it (e.g. .venv/bin/codeassist) ' +
      'and run "codeassist: Restart Server".'
    );
  }
  return `codeassist: could not start "${program} serve" (${err}). Run \`${program} doctor\` in a terminal to see why.`;
}

/** `workspace/executeCommand` for a server command (rejects when the server is not running). */
async function serverCommandRequest(command: string): Promise<unknown> {
  if (!client || client.state !== State.Running) throw new Error('the codeassist server is not running');
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [] });
}

async function stop(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) {
    try {
      await c.stop(5000);
    } catch {
      // already dead
    }
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('codeassist', { log: true });
  status = new StatusItem();
  explainView = new ExplainView();
  inline = new InlineRequests({
    shown: (ms) => status.suggestionShown(ms),
    enabled: enabledFor,
    notify: (method, params) => {
      if (client && client.state === State.Running) void client.sendNotification(method, params);
    },
  });
  warm = new WarmOnRest((params) => {
    if (client && client.state === State.Running) void client.sendNotification(WARM_NOTIFICATION, params);
  });
  context.subscriptions.push(output, status, explainView, inline, warm, {
    dispose: () => ownExplainCommand?.dispose(),
  });
  status.setOff(offReason());

  context.subscriptions.push(
    vscode.commands.registerCommand('codeassist.restart', async () => {
      await stop();
      await start();
    }),
    vscode.commands.registerCommand(MENU, () => menu(status.tooltip(), (c) => vscode.commands.executeCommand(c))),
    vscode.commands.registerCommand(TOGGLE, toggle),
    vscode.commands.registerCommand(TOGGLE_LANGUAGE, toggleLanguage),
    vscode.commands.registerCommand(SHOW_LOG, () => output.show(true)),
    vscode.commands.registerCommand('codeassist.acceptNextWord', () =>
      inline.acceptPart('editor.action.inlineSuggest.acceptNextWord'),
    ),
    vscode.commands.registerCommand('codeassist.acceptNextLine', () =>
      inline.acceptPart('editor.action.inlineSuggest.acceptNextLine'),
    ),
    vscode.commands.registerCommand('codeassist.dismissSuggestion', () => inline.dismiss()),
    vscode.commands.registerCommand(SHOW_STATS, () => showStats(serverCommandRequest)),
    vscode.commands.registerCommand(BENCHMARK, () =>
      benchmarkWorkspace(output, () => buildServerSettings(getter())),
    ),
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      status.setOff(offReason());
      warmAt(editor);
    }),
    vscode.window.onDidChangeTextEditorSelection((e) => {
      if (e.kind === vscode.TextEditorSelectionChangeKind.Mouse) warmAt(e.textEditor);
      else warm?.cancel();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      status.setOff(offReason());
      const relaunch = RELAUNCH_KEYS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`));
      if (relaunch) {
        await stop();
        await start();
      } else if (client && client.state === State.Running) {
        await client.sendNotification('workspace/didChangeConfiguration', didChangeConfigurationParams(getter()));
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}
