/**
 * Explanations as rendered Markdown: each one is a read-only virtual document (`codeassist-explain:` scheme, served
 * by a TextDocumentContentProvider, so nothing asks to be saved) opened in VS Code's Markdown preview beside the
 * code, titled by the function. It opens at once with a placeholder, fills in as the server streams the explanation
 * (`$/progress` reports on a `codeassist/explain/N` token), and ends with the command's Markdown result or the error.
 */
import * as vscode from 'vscode';

export const EXPLAIN_SCHEME = 'codeassist-explain';
const EXPLAIN_TOKEN = /^codeassist\/explain\//;

/** One explanation on screen. */
export class Explanation {
  token: string | undefined;

  constructor(
    private readonly view: ExplainView,
    readonly uri: vscode.Uri,
    readonly title: string,
  ) {}

  /** Part of the explanation has arrived. */
  streamed(soFar: string): void {
    this.view.set(this.uri, `### ${this.title}\n\n${soFar} …\n`);
  }

  /** The server's Markdown: its `### codeassist: file, lines` heading gets the title's name in front. */
  done(markdown: string): void {
    const heading = /^### codeassist: (.*)\n/.exec(markdown);
    const body = heading ? `### ${this.title} · ${heading[1]}\n${markdown.slice(heading[0].length)}` : markdown;
    this.view.set(this.uri, body);
    this.view.finished(this);
  }

  failed(reason: string): void {
    this.view.set(this.uri, `### ${this.title}\n\n**codeassist could not explain this:** ${reason}\n`);
    this.view.finished(this);
  }
}

export class ExplainView implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly pending: Explanation[] = [];
  private readonly registration: vscode.Disposable;
  private seq = 0;
  readonly onDidChange = this.changed.event;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(EXPLAIN_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  set(uri: vscode.Uri, content: string): void {
    this.contents.set(uri.toString(), content);
    this.changed.fire(uri);
  }

  /** Open a new explanation in the Markdown preview beside the active editor, with a placeholder. */
  async open(title: string): Promise<Explanation> {
    this.seq += 1;
    const uri = vscode.Uri.from({ scheme: EXPLAIN_SCHEME, path: `/${title}.md`, query: String(this.seq) });
    const explanation = new Explanation(this, uri, title);
    this.set(uri, `### ${title}\n\n_codeassist is explaining this code…_\n`);
    this.pending.push(explanation);
    try {
      await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
    } catch {
      // No Markdown preview (the built-in Markdown extension disabled): show the read-only Markdown source instead.
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
    }
    return explanation;
  }

  finished(explanation: Explanation): void {
    const i = this.pending.indexOf(explanation);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /**
   * `handleWorkDoneProgress` middleware for the server's explain tokens (true: handled here). The server runs one
   * model job at a time, in order, so a new token belongs to the oldest explanation still waiting for one. Reports
   * carry the explanation so far; they are not passed on, so the status bar does not get the whole text.
   */
  progress(token: string | number, params: { kind: string; message?: string }): boolean {
    if (!EXPLAIN_TOKEN.test(String(token))) return false;
    const key = String(token);
    if (params.kind === 'begin') {
      const waiting = this.pending.find((e) => e.token === undefined);
      if (waiting) waiting.token = key;
    } else if (params.kind === 'report' && params.message) {
      this.pending.find((e) => e.token === key)?.streamed(params.message);
    }
    return true;
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}
