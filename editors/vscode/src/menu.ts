/**
 * What users expect of an assistant beyond the ghost text: switching suggestions off (everywhere, or for one
 * language), the log, the local acceptance stats, and one menu behind the status item that reaches all of them.
 *
 * The switches are client settings (`codeassist.enabled`, `codeassist.disabledLanguages`, user scope): the extension
 * simply stops asking the server, so nothing runs while they are off.
 */
import * as vscode from 'vscode';

import { acceptanceLine, parseAcceptance, suggestionsEnabled, toggledLanguages } from './acceptance';
import { SECTION } from './protocol';

export const TOGGLE = 'codeassist.toggle';
export const TOGGLE_LANGUAGE = 'codeassist.toggleLanguage';
export const SHOW_LOG = 'codeassist.showLog';
export const SHOW_STATS = 'codeassist.showStats';
export const MENU = 'codeassist.showStatus';

const cfg = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration(SECTION);

/** Whether suggestions are on for a document. */
export function enabledFor(document: vscode.TextDocument): boolean {
  return suggestionsEnabled(cfg().get('enabled'), cfg().get('disabledLanguages'), document.languageId);
}

/** "everywhere" / "for python" when suggestions are off for the active editor, else undefined. */
export function offReason(): string | undefined {
  if (cfg().get('enabled') === false) return 'everywhere';
  const language = vscode.window.activeTextEditor?.document.languageId;
  return language && !suggestionsEnabled(true, cfg().get('disabledLanguages'), language) ? `for ${language}` : undefined;
}

export async function toggle(): Promise<void> {
  const on = cfg().get('enabled') !== false;
  await cfg().update('enabled', !on, vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`codeassist: suggestions ${on ? 'off' : 'on'} everywhere.`);
}

export async function toggleLanguage(languageId?: string): Promise<void> {
  const language = typeof languageId === 'string' ? languageId : vscode.window.activeTextEditor?.document.languageId;
  if (!language) {
    void vscode.window.showInformationMessage('codeassist: open a file to switch suggestions for its language.');
    return;
  }
  const list = toggledLanguages(cfg().get('disabledLanguages'), language);
  await cfg().update('disabledLanguages', list, vscode.ConfigurationTarget.Global);
  const off = list.includes(language);
  void vscode.window.showInformationMessage(`codeassist: suggestions ${off ? 'off' : 'on'} for ${language}.`);
}

type Stats = { today?: Record<string, unknown>; total?: Record<string, unknown>; file?: string | null };

/** Server stats summary (`codeassist.stats`) as one readable line per period. */
export function statsText(stats: Stats): string {
  const line = (c: Record<string, unknown> | undefined): string => {
    const retained: Record<string, { chars: number; present: number }> = {};
    for (const [label, r] of Object.entries((c?.retained ?? {}) as Record<string, Record<string, number>>)) {
      retained[label] = { chars: r.chars_accepted ?? 0, present: r.chars_present ?? 0 };
    }
    const a = parseAcceptance({
      shown: c?.shown, accepted: c?.accepted, acceptedFull: c?.accepted_full, acceptedPartial: c?.accepted_partial,
      dismissed: c?.dismissed, charsAccepted: c?.chars_accepted, retained,
    });
    return (acceptanceLine(a) ?? '').replace(/^today: /, '');
  };
  return `today: ${line(stats.today)} · all days: ${line(stats.total)}`;
}

export async function showStats(request: (command: string) => Promise<unknown>): Promise<void> {
  let stats: Stats;
  try {
    stats = ((await request('codeassist.stats')) ?? {}) as Stats;
  } catch (err) {
    void vscode.window.showWarningMessage(`codeassist: no stats (${String((err as Error)?.message ?? err)}).`);
    return;
  }
  const pick = await vscode.window.showInformationMessage(
    `codeassist (local only, nothing of your code is kept): ${statsText(stats)}`,
    'Delete Stats',
  );
  if (pick === 'Delete Stats') {
    await request('codeassist.deleteStats');
    void vscode.window.showInformationMessage('codeassist: acceptance stats of this workspace deleted.');
  }
}

/** The status item's menu. */
export async function menu(tooltip: string, run: (command: string) => Thenable<unknown>): Promise<void> {
  const language = vscode.window.activeTextEditor?.document.languageId;
  const globalOn = cfg().get('enabled') !== false;
  const languageOn = language ? suggestionsEnabled(true, cfg().get('disabledLanguages'), language) : true;
  const items: (vscode.QuickPickItem & { command: string })[] = [
    { label: globalOn ? '$(circle-slash) Disable suggestions' : '$(check) Enable suggestions', command: TOGGLE },
  ];
  if (language) {
    const label = `${languageOn ? '$(circle-slash) Disable' : '$(check) Enable'} suggestions for ${language}`;
    items.push({ label, command: TOGGLE_LANGUAGE });
  }
  items.push(
    { label: '$(graph) Show acceptance stats', command: SHOW_STATS },
    { label: '$(output) Show log', command: SHOW_LOG },
    { label: '$(debug-restart) Restart server', command: 'codeassist.restart' },
  );
  const pick = await vscode.window.showQuickPick(items, { title: tooltip.split('\n').slice(0, 2).join(' · ') });
  if (pick) await run(pick.command);
}
