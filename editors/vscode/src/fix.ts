/**
 * Resolving a "codeassist: Fix …" code action, as the user sees it: a cancellable progress notification while the
 * model writes the fix and the sandbox checks it, then a notification with the verdict ("verified: tests pass",
 * "compiles", "unverified (…)"), since VS Code lists the action under its pre-resolve title and never shows the
 * verdict the server puts in the resolved one. Failures become one readable message instead of
 * vscode-languageclient's raw "Request codeAction/resolve failed … Code: -32803" toast.
 */
import * as vscode from 'vscode';
import { CodeActionResolveRequest, LanguageClient } from 'vscode-languageclient/node';

import { fixErrorMessage, fixOutcome, isFixTitle, parseFixTitle } from './protocol';

type Next = (item: vscode.CodeAction, token: vscode.CancellationToken) => vscode.ProviderResult<vscode.CodeAction>;

/** `resolveCodeAction` middleware; other actions (Explain) go through the default path. */
export function resolveCodeActionMiddleware(
  client: () => LanguageClient | undefined,
): (item: vscode.CodeAction, token: vscode.CancellationToken, next: Next) => Promise<vscode.CodeAction> {
  return async (item, token, next) => {
    const c = client();
    if (!isFixTitle(item.title) || !c) return (await next(item, token)) ?? item;
    const problem = parseFixTitle(item.title)?.problem ?? '';
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `codeassist: fixing “${problem}”…`, cancellable: true },
      (_progress, cancelled) => resolveFix(c, item, [token, cancelled]),
    );
  };
}

async function resolveFix(
  c: LanguageClient,
  item: vscode.CodeAction,
  tokens: vscode.CancellationToken[],
): Promise<vscode.CodeAction> {
  const source = new vscode.CancellationTokenSource();
  const subscriptions = tokens.map((t) => t.onCancellationRequested(() => source.cancel()));
  try {
    const params = c.code2ProtocolConverter.asCodeActionSync(item);
    const result = await c.sendRequest(CodeActionResolveRequest.type, params, source.token);
    if (source.token.isCancellationRequested) return item;
    const resolved = await c.protocol2CodeConverter.asCodeAction(result, source.token);
    c.outputChannel.appendLine(`fix resolved: ${resolved.title}`);
    if (!resolved.edit) return resolved; // no fix: the server said why (window/showMessage)
    const outcome = fixOutcome(resolved.title);
    if (outcome.level === 'info') void vscode.window.showInformationMessage(outcome.message);
    else void vscode.window.showWarningMessage(outcome.message);
    return resolved;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'number' ? e.code : undefined;
    const reason = typeof e.message === 'string' ? e.message : String(err);
    c.outputChannel.appendLine(`fix failed (${code ?? '?'}): ${reason}`);
    const message = source.token.isCancellationRequested ? undefined : fixErrorMessage(code, reason);
    if (message) void vscode.window.showWarningMessage(message);
    return item; // no edit: VS Code applies nothing
  } finally {
    subscriptions.forEach((s) => s.dispose());
    source.dispose();
  }
}
