/**
 * Local acceptance stats, the client's half (no `vscode` import, so the Node tests drive it): which suggestion was
 * shown, how much of it the user took, and the words the status item and the stats command show.
 *
 * The server gives each inline item an id in its command (`codeassist.didAccept`, run by VS Code when the whole item is
 * accepted). VS Code's stable API says nothing about partial acceptance (accept next word / line), so the tracker
 * watches the document: an insertion of two or more characters, at the point where the shown item continues, that is
 * the next piece of its text, is a partial acceptance (typing one character at a time is typing, not accepting),
 * and so is any such insertion right after the extension's own accept-next-word / accept-next-line commands (which
 * run VS Code's and take its Ctrl+Right).
 */

export const SHOW_NOTIFICATION = 'codeassist/didShow';
export const ACCEPT_NOTIFICATION = 'codeassist/didAccept';
export const ACCEPT_COMMAND = 'codeassist.didAccept';
export const STATS_COMMAND = 'codeassist.stats';
export const DELETE_STATS_COMMAND = 'codeassist.deleteStats';

/** The suggestion id an inline item's command carries (undefined: not one of ours). */
export function suggestionId(command: unknown): string | undefined {
  const c = command as { command?: unknown; arguments?: unknown[] } | undefined;
  if (!c || c.command !== ACCEPT_COMMAND || !Array.isArray(c.arguments)) return undefined;
  const id = (c.arguments[0] as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * The item on screen: where its text goes in (a document offset) and how much of it is in the document: `typed` when it
 * is shown (the item's range may start before the cursor, over what the user typed), then what acceptance adds.
 */
export class AcceptTracker {
  private current: { id: string; start: number; text: string; taken: number } | undefined;

  show(id: string, start: number, text: string, typed = 0): void {
    if (this.current?.id === id) return;
    this.current = { id, start, text, taken: typed };
  }

  get id(): string | undefined {
    return this.current?.id;
  }

  clear(): void {
    this.current = undefined;
  }

  /**
   * A document change (offset and length of the replaced range, the inserted text). Returns the acceptedLength to
   * report (UTF-16 units of the item's text, cumulative) when the change took a further piece of the suggestion:
   * text inserted where the taken part ends, or a rewrite of the taken part (VS Code may replace the item's range)
   * that continues it. Any other change ends the tracking.
   */
  change(
    offset: number,
    replaced: number,
    inserted: string,
    accepting = false,
  ): { id: string; acceptedLength: number } | undefined {
    const c = this.current;
    if (!c) return undefined;
    const at = offset - c.start;
    const taken = at + inserted.length;
    const continues = at >= 0 && at + replaced === c.taken && c.text.startsWith(inserted, at) && taken > c.taken;
    if (!continues) {
      this.current = undefined;
      return undefined;
    }
    const added = taken - c.taken;
    c.taken = taken;
    // one character is typing, unless an accept command (codeassist.acceptNextWord: a word may be ".") just ran
    if (added < 2 && !accepting && taken < c.text.length) return undefined;
    if (taken >= c.text.length) {
      this.current = undefined; // all of it: the item's command reports that
      return undefined;
    }
    return { id: c.id, acceptedLength: taken };
  }
}

/** Today's counts as `codeassist/status` carries them. */
export interface AcceptanceToday {
  shown: number;
  accepted: number;
  acceptedFull: number;
  acceptedPartial: number;
  dismissed: number;
  charsAccepted: number;
  retained: Record<string, { chars: number; present: number }>;
}

export function parseAcceptance(value: unknown): AcceptanceToday | null {
  if (typeof value !== 'object' || value === null) return null;
  const a = value as Record<string, unknown>;
  const n = (k: string): number => (typeof a[k] === 'number' && Number.isFinite(a[k]) ? (a[k] as number) : 0);
  const retained: AcceptanceToday['retained'] = {};
  if (typeof a.retained === 'object' && a.retained !== null) {
    for (const [label, r] of Object.entries(a.retained as Record<string, { chars?: unknown; present?: unknown }>)) {
      if (typeof r?.chars === 'number' && typeof r?.present === 'number') retained[label] = { chars: r.chars, present: r.present };
    }
  }
  return {
    shown: n('shown'), accepted: n('accepted'), acceptedFull: n('acceptedFull'), acceptedPartial: n('acceptedPartial'),
    dismissed: n('dismissed'), charsAccepted: n('charsAccepted'), retained,
  };
}

const pct = (part: number, whole: number): string => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '–');

/** "today: 5 of 12 suggestions accepted (42%), 230 characters; 91% still there after 30s" */
export function acceptanceLine(a: AcceptanceToday | null): string | undefined {
  if (!a) return undefined;
  if (a.shown === 0) return 'today: no suggestions shown yet';
  let line = `today: ${a.accepted} of ${a.shown} suggestions accepted (${pct(a.accepted, a.shown)}), ${a.charsAccepted} characters`;
  const checks = Object.entries(a.retained).sort(([x], [y]) => parseFloat(x) - parseFloat(y));
  const kept = checks.map(([label, r]) => `${pct(r.present, r.chars)} still there after ${label}`);
  if (kept.length > 0) line += `; ${kept.join(', ')}`;
  return line;
}

/** Whether inline suggestions are on for a language: the global switch and the per-language list. */
export function suggestionsEnabled(enabled: unknown, disabledLanguages: unknown, languageId: string): boolean {
  if (enabled === false) return false;
  return !(Array.isArray(disabledLanguages) && disabledLanguages.includes(languageId));
}

/** The `codeassist.disabledLanguages` list after toggling one language. */
export function toggledLanguages(disabledLanguages: unknown, languageId: string): string[] {
  const list = Array.isArray(disabledLanguages) ? disabledLanguages.filter((l): l is string => typeof l === 'string') : [];
  return list.includes(languageId) ? list.filter((l) => l !== languageId) : [...list, languageId].sort();
}
