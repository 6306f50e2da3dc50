/**
 * Inline completion requests, as the user experiences them.
 *
 * VS Code (seen in 1.139 / code-server) cancels an automatic inline-completion request about 0.6-0.8 s after it
 * was sent even when nothing changed, and does not ask again: with a model that needs longer (a laptop CPU under
 * load, a first request that evaluates the whole prompt) the ghost text would never appear. So VS Code's
 * cancellation is honoured only when the request has gone stale (the document changed or the cursor moved);
 * otherwise the server's answer is awaited, kept, and VS Code is asked again (`editor.action.inlineSuggest.trigger`),
 * which this middleware answers from the kept result at once. A newer keystroke still cancels the server's job
 * (the document changes, and the server's newest-wins rule stops the older generation).
 *
 * It also measures what the user waited: request to non-empty answer (the status item shows it, see status.ts), skips
 * the request when suggestions are switched off (globally or for the language), and tells the server which suggestion
 * was shown and how much of it was accepted (the local acceptance stats, see acceptance.ts).
 */
import * as vscode from 'vscode';

import { ACCEPT_NOTIFICATION, AcceptTracker, SHOW_NOTIFICATION, suggestionId } from './acceptance';

type Result = vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined;
type Next = (
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
) => vscode.ProviderResult<Result>;

const itemsOf = (r: Result): vscode.InlineCompletionItem[] => (Array.isArray(r) ? r : (r?.items ?? []));
const keyOf = (d: vscode.TextDocument, p: vscode.Position): string =>
  `${d.uri.toString()}@${d.version}:${p.line}:${p.character}`;

export interface InlineHooks {
  /** A non-empty answer came back after `ms`. */
  shown(ms: number): void;
  /** Whether suggestions are on for this document (the toggles). */
  enabled(document: vscode.TextDocument): boolean;
  /** Send a notification to the server (dropped when it is not running). */
  notify(method: string, params: unknown): void;
}

export class InlineRequests implements vscode.Disposable {
  /** An answer that arrived after VS Code stopped waiting, for the request it then gets asked again. */
  private late: { key: string; result: Result } | undefined;
  /** Where the user dismissed the suggestion (Escape): an answer arriving late there is not brought back. */
  private dismissed: string | undefined;
  private readonly tracker = new AcceptTracker();
  private trackedUri: string | undefined;
  private readonly watch: vscode.Disposable;
  private acceptingSince = 0;

  constructor(private readonly hooks: InlineHooks) {
    this.watch = vscode.workspace.onDidChangeTextDocument((e) => this.changed(e));
  }

  dispose(): void {
    this.watch.dispose();
  }

  /** What VS Code is about to show: the server hears it was shown, and its acceptance is watched. */
  private announce(document: vscode.TextDocument, position: vscode.Position, result: Result): void {
    const item = itemsOf(result)[0];
    const id = item ? suggestionId(item.command) : undefined;
    if (!item || !id || id === this.tracker.id) return;
    const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
    const start = item.range?.start ?? position;
    const typed = start.isBefore(position) ? document.getText(new vscode.Range(start, position)) : '';
    this.tracker.show(id, document.offsetAt(start), text, text.startsWith(typed) ? typed.length : 0);
    this.trackedUri = document.uri.toString();
    this.hooks.notify(SHOW_NOTIFICATION, { id });
  }

  /** Escape while a suggestion shows: VS Code's hide, and no answer still on its way to this position is brought
   * back by asking VS Code again (the user said no; Alt+\\ asks anew). */
  async dismiss(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    this.late = undefined;
    this.dismissed = editor ? keyOf(editor.document, editor.selection.active) : undefined;
    await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
  }

  /** Whether the user dismissed the suggestion at this document version and position. */
  dismissedAt(document: vscode.TextDocument, position: vscode.Position): boolean {
    return this.dismissed === keyOf(document, position);
  }

  /** VS Code's accept-next-word / -line, through ours: the edit it makes is an acceptance, whatever its size. */
  async acceptPart(command: string): Promise<void> {
    this.acceptingSince = performance.now();
    await vscode.commands.executeCommand(command);
  }

  private changed(e: vscode.TextDocumentChangeEvent): void {
    if (this.trackedUri !== e.document.uri.toString() || e.contentChanges.length === 0) return;
    if (e.contentChanges.length > 1) return this.tracker.clear();
    const c = e.contentChanges[0];
    const accepting = performance.now() - this.acceptingSince < 1000;
    this.acceptingSince = 0;
    const accepted = this.tracker.change(c.rangeOffset, c.rangeLength, c.text, accepting);
    if (accepted) this.hooks.notify(ACCEPT_NOTIFICATION, accepted);
  }

  /** `provideInlineCompletionItems` middleware. */
  readonly provide = async (
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: Next,
  ): Promise<Result> => {
    if (!this.hooks.enabled(document)) return null;
    const key = keyOf(document, position);
    if (this.late?.key === key) {
      const { result } = this.late;
      this.late = undefined;
      this.announce(document, position, result);
      return result;
    }
    this.late = undefined;
    if (context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke) this.dismissed = undefined; // asked anew
    const started = performance.now();
    const stale = (): boolean => keyOf(document, position) !== key || !cursorAt(document, position);
    const request = new vscode.CancellationTokenSource();
    const subscriptions = [
      token.onCancellationRequested(() => stale() && request.cancel()),
      vscode.workspace.onDidChangeTextDocument((e) => e.document === document && e.contentChanges.length > 0 && request.cancel()),
      vscode.window.onDidChangeTextEditorSelection((e) => e.textEditor.document === document && stale() && request.cancel()),
    ];
    try {
      const result = await next(document, position, context, request.token);
      if (request.token.isCancellationRequested) return null;
      const items = itemsOf(result);
      if (items.length > 0) this.hooks.shown(performance.now() - started);
      if (!token.isCancellationRequested) {
        this.announce(document, position, result);
        return result;
      }
      if (items.length > 0 && !stale() && this.dismissed !== key) {
        this.late = { key, result };
        void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      }
      return null;
    } finally {
      subscriptions.forEach((s) => s.dispose());
      request.dispose();
    }
  };
}

function cursorAt(document: vscode.TextDocument, position: vscode.Position): boolean {
  const editor = vscode.window.activeTextEditor;
  return editor?.document === document && editor.selection.isEmpty && editor.selection.active.isEqual(position);
}
