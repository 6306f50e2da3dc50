/**
 * VS Code client for `codeassist serve`.
 *
 * Inline completion (`textDocument/inlineCompletion`, LSP 3.18) is provided by vscode-languageclient 10's built-in
 * InlineCompletionItemFeature as soon as the server advertises `inlineCompletionProvider`; completion, code actions
 * and `window/showDocument` are standard client features too. This file adds what is codeassist-specific: settings ->
 * initializationOptions / didChangeConfiguration, the `codeassist/status` status bar item, and the commands.
 */
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';

import {
  EXPLAIN_COMMAND,
  SECTION,
  STATUS_NOTIFICATION,
  StatusParams,
  buildServerSettings,
  didChangeConfigurationParams,
  explainArguments,
  explainCommandFromData,
  documentLanguages,
  initializationOptions,
  parseStatus,
  serverCommand,
  statusBarText,
} from './protocol';

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let lastStatus: StatusParams | undefined;
let output: vscode.LogOutputChannel;
let ownExplainCommand: vscode.Disposable | undefined;

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/**
 * Only values the user actually set (user, workspace or folder settings) go to the server: the defaults shown in the
 * settings UI are the server's own, and sending them would override `[tool.codeassist]` in the workspace's
 * pyproject.toml / .codeassist.toml, which the server ranks below initializationOptions.
 */
function getter(): (name: string) => unknown {
  const cfg = config();
  return (name) => {
    const i = cfg.inspect(name);
    return i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
  };
}

function showStatus(status: StatusParams | undefined): void {
  lastStatus = status;
  const { text, tooltip } = statusBarText(status);
  statusItem.text = text;
  statusItem.tooltip = tooltip;
  statusItem.backgroundColor =
    status?.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  statusItem.show();
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
    documentSelector: documentLanguages(cfg.get('languages')).flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: initOptions,
    outputChannel: output,
    middleware: {
      // The server's `codeassist.explain` is registered as a VS Code command by the client (executeCommandProvider).
      // From the palette it comes without arguments: fill in the active selection; always show the Markdown result.
      executeCommand: async (cmd, cmdArgs, next) => {
        if (cmd !== EXPLAIN_COMMAND) return next(cmd, cmdArgs);
        return explain(cmdArgs, async (a) => next(cmd, a));
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
  const c = new LanguageClient('codeassist', 'codeassist', serverOptions, clientOptions);
  c.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
    const status = parseStatus(params);
    if (status) showStatus(status);
  });
  c.onDidChangeState((e) => {
    if (e.newState === State.Stopped) showStatus(undefined);
    if (e.newState === State.Starting) {
      showStatus({ state: 'loading', message: 'starting server', model: null, lastLatencyMs: null, verification: 'unavailable', lastCheck: null });
    }
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

async function explain(args: unknown[] | undefined, send: (args: unknown[]) => Promise<unknown>): Promise<unknown> {
  let a = args && args.length > 0 ? args : explainArgsFromEditor();
  if (!a) {
    void vscode.window.showInformationMessage('codeassist: open a file and select code to explain.');
    return undefined;
  }
  // We show the Markdown ourselves, so ask the server not to open its generated file as well.
  if (a.length === 2) a = explainArguments(a[0] as string, a[1], false);
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'codeassist: explaining…' },
    () => send(a),
  );
  const markdown = typeof result === 'string' ? result : (result as { value?: unknown } | null)?.value;
  if (typeof markdown === 'string' && markdown.trim() !== '') {
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: markdown });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
  } else if (result === null || result === undefined || markdown === '') {
    void vscode.window.showInformationMessage('codeassist: no explanation (is the model still loading?)');
  }
  return result;
}

async function start(): Promise<void> {
  client = createClient();
  try {
    await client.start();
  } catch (err) {
    showStatus({ state: 'error', message: String(err), model: null, lastLatencyMs: null, verification: 'unavailable', lastCheck: null });
    void vscode.window.showErrorMessage(
      `codeassist: could not start the server (${String(err)}). Check the "codeassist.serverPath" setting.`,
    );
    return;
  }
  // If the server did not advertise `codeassist.explain` as an executeCommand command, the client did not register
  // a VS Code command for it: provide one that sends workspace/executeCommand directly.
  const registered = (await vscode.commands.getCommands(true)).includes(EXPLAIN_COMMAND);
  if (!registered && !ownExplainCommand) {
    ownExplainCommand = vscode.commands.registerCommand(EXPLAIN_COMMAND, (...args: unknown[]) =>
      explain(args, (a) => {
        if (!client || client.state !== State.Running) return Promise.resolve(undefined);
        return client.sendRequest(ExecuteCommandRequest.type, { command: EXPLAIN_COMMAND, arguments: a });
      }),
    );
  }
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
  statusItem = vscode.window.createStatusBarItem('codeassist.status', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'codeassist';
  statusItem.command = 'codeassist.showStatus';
  showStatus(undefined);
  context.subscriptions.push(output, statusItem, { dispose: () => ownExplainCommand?.dispose() });

  context.subscriptions.push(
    vscode.commands.registerCommand('codeassist.restart', async () => {
      await stop();
      await start();
    }),
    vscode.commands.registerCommand('codeassist.showStatus', async () => {
      const { tooltip } = statusBarText(lastStatus);
      const pick = await vscode.window.showInformationMessage(tooltip.replace(/\n/g, ' · '), 'Show Logs', 'Restart');
      if (pick === 'Show Logs') output.show(true);
      if (pick === 'Restart') await vscode.commands.executeCommand('codeassist.restart');
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      const relaunch = ['serverPath', 'serverArgs', 'languages'].some((k) => e.affectsConfiguration(`${SECTION}.${k}`));
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
