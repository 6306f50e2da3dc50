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
 * It also measures what the user waited: request to non-empty answer (the status item shows it, see status.ts).
 */
import * as vscode from 'vscode';

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

export class InlineRequests {
  /** An answer that arrived after VS Code stopped waiting, for the request it then gets asked again. */
  private late: { key: string; result: Result } | undefined;

  constructor(private readonly shown: (ms: number) => void) {}

  /** `provideInlineCompletionItems` middleware. */
  readonly provide = async (
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: Next,
  ): Promise<Result> => {
    const key = keyOf(document, position);
    if (this.late?.key === key) {
      const { result } = this.late;
      this.late = undefined;
      return result;
    }
    this.late = undefined;
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
      if (items.length > 0) this.shown(performance.now() - started);
      if (!token.isCancellationRequested) return result;
      if (items.length > 0 && !stale()) {
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
