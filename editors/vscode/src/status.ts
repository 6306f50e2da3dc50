/**
 * The codeassist status bar item: model state from the server's `codeassist/status`, the latency the user waited for
 * the last inline suggestion (measured here, see protocol.statusBarText), the last check's label, and busy / partial
 * when the server reports them.
 */
import * as vscode from 'vscode';

import { StatusParams, statusBarText } from './protocol';

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: StatusParams | undefined;
  private editorLatencyMs: number | null = null;
  private off: string | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem('codeassist.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'codeassist';
    this.item.command = 'codeassist.showStatus';
    this.render();
  }

  get current(): StatusParams | undefined {
    return this.status;
  }

  /** A new server status (undefined: no server). */
  set(status: StatusParams | undefined): void {
    this.status = status;
    if (status === undefined) this.editorLatencyMs = null;
    this.render();
  }

  loading(message: string): void {
    this.set(clientStatus('loading', message));
  }

  error(message: string): void {
    this.set(clientStatus('error', message));
  }

  /** An inline suggestion came back non-empty after `ms` (request to answer, as the editor saw it). */
  suggestionShown(ms: number): void {
    this.editorLatencyMs = ms;
    this.render();
  }

  /** Suggestions switched off for the active editor ("everywhere", "for python"), or undefined when they are on. */
  setOff(off: string | undefined): void {
    if (off === this.off) return;
    this.off = off;
    this.render();
  }

  tooltip(): string {
    return statusBarText(this.status, this.editorLatencyMs).tooltip;
  }

  private render(): void {
    const { text, tooltip } = statusBarText(this.status, this.editorLatencyMs, this.off);
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: tooltip.replace(/\n/g, '; ') };
    this.item.backgroundColor =
      this.status?.state === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : this.status?.busy && this.off === undefined
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** A status the extension sets itself (no server status yet, or the server could not start). */
function clientStatus(state: 'loading' | 'error', message: string): StatusParams {
  return {
    state,
    message,
    model: null,
    lastLatencyMs: null,
    verification: 'unavailable',
    lastCheck: null,
    acceptance: null,
    lastPartial: false,
    busy: false,
    busyReason: null,
  };
}
