/**
 * "codeassist: Benchmark this workspace" (codeassist.benchmark): runs `codeassist bench repo <folder>` as a child
 * process under a cancellable progress notification (cancelling kills the process group's leader, and the CLI tears
 * its sandbox and server down on SIGTERM), then opens the Markdown report it wrote. Argument building and output
 * parsing live in benchcmd.ts.
 */
import { spawn } from 'node:child_process';
import * as vscode from 'vscode';

import { Tail, benchCommand, failureMessage, progressText, reportPath, spawnFailureMessage } from './benchcmd';

export const BENCHMARK = 'codeassist.benchmark';

type Outcome = { code: number | null; signal: string | null; stdout: string; stderr: string; error?: string };

async function pickFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) return folders[0];
  const active = vscode.window.activeTextEditor?.document.uri;
  const hint = active ? vscode.workspace.getWorkspaceFolder(active) : undefined;
  return vscode.window.showWorkspaceFolderPick({ placeHolder: hint ? `e.g. ${hint.name}` : 'Folder to benchmark' });
}

/** Run the CLI; resolves when it exits (or could not start). */
function runCli(
  command: string,
  args: string[],
  log: vscode.LogOutputChannel,
  progress: vscode.Progress<{ message?: string }>,
  token: vscode.CancellationToken,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = new Tail(6);
    let stdout = '';
    const cancel = token.onCancellationRequested(() => {
      log.info('benchmark cancelled: stopping the CLI');
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 10000).unref();
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      tail.push(d);
      progress.report({ message: progressText(tail.last()) });
    });
    child.on('error', (e) => {
      cancel.dispose();
      resolve({ code: null, signal: null, stdout, stderr: tail.text(), error: String(e.message ?? e) });
    });
    child.on('close', (code, signal) => {
      cancel.dispose();
      log.info(`benchmark: ${command} exited (${code ?? signal})`);
      resolve({ code, signal, stdout, stderr: tail.text() });
    });
  });
}

export async function benchmarkWorkspace(
  log: vscode.LogOutputChannel,
  serverSettings: () => Record<string, unknown>,
): Promise<void> {
  const folder = await pickFolder();
  if (!folder) {
    void vscode.window.showWarningMessage('codeassist: open a folder to benchmark (File > Open Folder).');
    return;
  }
  const cfg = vscode.workspace.getConfiguration('codeassist');
  const { command, args } = benchCommand(
    cfg.get('serverPath'),
    folder.uri.fsPath,
    cfg.get('benchmarkHoles'),
    serverSettings(),
  );
  log.info(`benchmark: ${command} ${args.join(' ')}`);
  const title = `codeassist: benchmarking ${folder.name}`;
  let cancelled = false;
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    (progress, token) => {
      token.onCancellationRequested(() => (cancelled = true));
      return runCli(command, args, log, progress, token);
    },
  );
  if (outcome.error !== undefined) {
    void vscode.window.showErrorMessage(spawnFailureMessage(command, outcome.error));
    return;
  }
  if (cancelled) {
    void vscode.window.showInformationMessage('codeassist: benchmark cancelled (run it again to start over).');
    return;
  }
  const report = reportPath(outcome.stdout);
  if (outcome.code !== 0 || report === undefined) {
    const msg = failureMessage(outcome.code, outcome.signal, outcome.stderr);
    log.error(msg);
    void vscode.window.showErrorMessage(msg, 'Show Log').then((c) => c && log.show(true));
    return;
  }
  // The rendered report (tables) when the built-in Markdown extension is there, else the Markdown source.
  const uri = vscode.Uri.file(report);
  try {
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  } catch {
    await vscode.window.showTextDocument(uri, { preview: false });
  }
  void vscode.window.showInformationMessage(`codeassist: benchmark of ${folder.name} done; report: ${report}`);
}
