/**
 * What the extension says to `codeassist serve`, kept free of any `vscode` import so that the Node protocol test
 * (src/test/protocol.test.ts) drives the real server with exactly the same launch command, initializationOptions,
 * configuration payloads and status parsing as the extension does.
 */

/** The configuration section, in VS Code settings and in `workspace/didChangeConfiguration`. */
import { AcceptanceToday, acceptanceLine, parseAcceptance } from './acceptance';

export const SECTION = 'codeassist';

/** Custom server -> client notification carrying the model state. */
export const STATUS_NOTIFICATION = 'codeassist/status';

/** Server -> client: a suggestion shown as "checking…" failed its tests; hide it if it is still on screen. */
export const WITHDRAW_NOTIFICATION = 'codeassist/withdrawSuggestion';

/**
 * Server -> client: a verified replacement of a withdrawn suggestion is in the server's cache for that place
 * (`verify_alternatives`); ask again there if the document and the cursor are as they were.
 */
export const READY_NOTIFICATION = 'codeassist/suggestionReady';

/** The params of `codeassist/suggestionReady` (and the place fields of `codeassist/withdrawSuggestion`). */
export type SuggestionReady = {
  uri: string;
  version: number;
  line: number;
  character: number;
  text: string;
  label: string;
};

/** Validates `codeassist/suggestionReady` params; undefined when malformed (ignored, never thrown). */
export function parseSuggestionReady(params: unknown): SuggestionReady | undefined {
  const p = params as
    | { textDocument?: { uri?: unknown; version?: unknown }; position?: { line?: unknown; character?: unknown } }
    | undefined;
  const q = params as { text?: unknown; label?: unknown } | undefined;
  const uri = p?.textDocument?.uri;
  const version = p?.textDocument?.version;
  const line = p?.position?.line;
  const character = p?.position?.character;
  if (typeof uri !== 'string' || typeof version !== 'number' || typeof line !== 'number') return undefined;
  if (typeof character !== 'number' || typeof q?.text !== 'string') return undefined;
  return { uri, version, line, character, text: q.text, label: typeof q.label === 'string' ? q.label : '' };
}

/** Server command behind the "codeassist: Explain" code action; args: [uri, range]; result: Markdown. */
export const EXPLAIN_COMMAND = 'codeassist.explain';

/** Settings forwarded to the server, with the JSON type each one must have. Everything else stays client-side. */
export const SERVER_SETTINGS = {
  model: 'string',
  threads: 'integer',
  n_ctx: 'integer',
  max_tokens: 'integer',
  debounce_ms: 'integer',
  debounce_max_ms: 'integer',
  prefetch: 'boolean',
  candidates: 'integer',
  timeout_ms: 'integer',
  verify: 'string',
  verify_alternatives: 'integer',
  verify_actions: 'string',
  sandbox_image: 'string',
  languages: 'string[]',
  suggest_in_comments: 'boolean',
  stats: 'boolean',
  fix_model: 'string',
  fix_budget_ms: 'integer',
  confidence_gate: 'string',
} as const;

export type ServerSettingName = keyof typeof SERVER_SETTINGS;

/**
 * The VS Code setting (under `codeassist.`) for each server setting. The Settings editor derives a setting's title
 * from its key, splitting camelCase ("debounceDelay" -> "Debounce Delay"), so the keys are camelCase words; the
 * server's snake_case names (`codeassist.debounce_ms`, ...) are still read, as deprecated aliases, when the new key is
 * unset.
 */
export const SETTING_KEYS: Record<ServerSettingName, string> = {
  model: 'model',
  threads: 'threads',
  n_ctx: 'contextSize',
  max_tokens: 'maxTokens',
  debounce_ms: 'debounceDelay',
  debounce_max_ms: 'debounceMaxDelay',
  prefetch: 'prefetch',
  candidates: 'candidates',
  timeout_ms: 'timeout',
  verify: 'verifyCompletions',
  verify_alternatives: 'verifyAlternatives',
  verify_actions: 'verifyFixes',
  sandbox_image: 'sandboxImage',
  languages: 'languages',
  suggest_in_comments: 'suggestInCommentsAndStrings',
  stats: 'acceptanceStats',
  fix_model: 'fixModel',
  fix_budget_ms: 'fixBudgetMs',
  confidence_gate: 'confidenceGate',
};

/** Settings whose change needs a new server process (they decide how it is launched or what it is attached to). */
export const RELAUNCH_KEYS = ['serverPath', 'serverArgs', 'languages'];

export type ServerSettings = {
  model?: string;
  threads?: number;
  n_ctx?: number;
  max_tokens?: number;
  debounce_ms?: number;
  debounce_max_ms?: number;
  prefetch?: boolean;
  candidates?: number;
  timeout_ms?: number;
  verify?: 'off' | 'syntax' | 'sandbox';
  verify_alternatives?: number;
  verify_actions?: 'off' | 'syntax' | 'sandbox';
  sandbox_image?: string;
  languages?: string[];
  suggest_in_comments?: boolean;
  stats?: boolean;
  fix_model?: string;
  fix_budget_ms?: number;
  confidence_gate?: string;
};

export const VERIFY_LEVELS = ['off', 'syntax', 'sandbox'] as const;

/** Reads one setting; returns undefined/null when the user has not set it. */
export type SettingGetter = (name: string) => unknown;

function valid(name: ServerSettingName, value: unknown): boolean {
  switch (SERVER_SETTINGS[name]) {
    case 'string':
      if (name === 'verify' || name === 'verify_actions') return (VERIFY_LEVELS as readonly unknown[]).includes(value);
      return typeof value === 'string' && value.trim() !== '';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0;
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'boolean':
      return typeof value === 'boolean';
  }
}

/**
 * The server settings object: the flat `codeassist` section the extension sends as `initializationOptions` and as
 * `settings.codeassist` in `workspace/didChangeConfiguration`. Unset (null/undefined/empty) values are left out so
 * the server keeps its own defaults; malformed values are left out too and reported through `problems`.
 */
export function buildServerSettings(get: SettingGetter, problems: string[] = []): ServerSettings {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(SERVER_SETTINGS) as ServerSettingName[]) {
    const value = get(name);
    if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    if (!valid(name, value)) {
      problems.push(
        `${SECTION}.${SETTING_KEYS[name]}: invalid value ${JSON.stringify(value)} (expected ${SERVER_SETTINGS[name]})`,
      );
      continue;
    }
    out[name] = name === 'model' || name === 'sandbox_image' || name === 'fix_model' ? String(value).trim() : value;
  }
  return out as ServerSettings;
}

/** `initializationOptions` for the `initialize` request. */
export function initializationOptions(get: SettingGetter, problems: string[] = []): ServerSettings {
  return buildServerSettings(get, problems);
}

/** Params for `workspace/didChangeConfiguration`. */
export function didChangeConfigurationParams(get: SettingGetter): { settings: { [SECTION]: ServerSettings } } {
  return { settings: { [SECTION]: buildServerSettings(get) } };
}

/** Build a getter over a plain object (tests, or the `codeassist` section as JSON). */
export function getterFromObject(obj: Record<string, unknown>): SettingGetter {
  return (name) => obj[name];
}

/** How to launch the server: `<serverPath> serve [...serverArgs]`. */
export function serverCommand(serverPath: unknown, serverArgs: unknown): { command: string; args: string[] } {
  const command = typeof serverPath === 'string' && serverPath.trim() !== '' ? serverPath.trim() : 'codeassist';
  const extra = Array.isArray(serverArgs) ? serverArgs.filter((a): a is string => typeof a === 'string') : [];
  return { command, args: ['serve', ...extra] };
}

/** The server's language names (`languages` setting) and the VS Code language ids each one covers. */
export const LANGUAGE_IDS: Record<string, string[]> = {
  python: ['python'],
  javascript: ['javascript', 'javascriptreact'],
  typescript: ['typescript'],
  tsx: ['typescriptreact'],
  go: ['go'],
  rust: ['rust'],
  java: ['java'],
  c: ['c'],
  cpp: ['cpp'],
};

/** VS Code language ids the client attaches the server to (its document selector), per the `languages` setting. */
export function documentLanguages(languages: unknown): string[] {
  const names =
    Array.isArray(languages) && languages.length > 0
      ? languages.filter((l): l is string => typeof l === 'string')
      : Object.keys(LANGUAGE_IDS);
  return [...new Set(names.flatMap((n) => LANGUAGE_IDS[n] ?? [n]))];
}

/** Explain arguments: `[uri, range, {showDocument}]`; a client that shows the Markdown itself passes false. */
export function explainArguments(uri: string, range: unknown, showDocument: boolean): unknown[] {
  return [uri, range, { showDocument }];
}

export type ModelState = 'loading' | 'ready' | 'error';

/** Params of `codeassist/status`. */
export interface StatusParams {
  state: ModelState;
  message: string;
  model: string | null;
  /** The last completion's latency as the server saw it: the request's arrival to its answer. */
  lastLatencyMs: number | null;
  verification: 'on' | 'off' | 'unavailable';
  /** The last suggestion was cut by the time cap (what the model generated by then); false when the server omits it. */
  lastPartial: boolean;
  /** Completions are being starved (time cap reached, slow decoding); false when the server omits it. */
  busy: boolean;
  /** Why the server is busy (null: not busy, or not said). */
  busyReason: string | null;
  /**
   * How the last completion was checked before it was shown (null before the first one). `alternatives`
   * (verify = sandbox): after a suggestion failed its tests, the search for a verified replacement is `searching`,
   * found one (`found`: this check is the replacement's) or found `none` in `tried` samples; null when no search.
   */
  lastCheck: {
    label: string;
    reason: string;
    shown: boolean;
    alternatives: 'searching' | 'found' | 'none' | null;
    tried: number | null;
  } | null;
  /** Today's local acceptance counts for this workspace (null when the stats are off). */
  acceptance: AcceptanceToday | null;
}

/** Validate a `codeassist/status` payload; unknown fields are ignored, a missing/unknown state yields undefined. */
export function parseStatus(params: unknown): StatusParams | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const p = params as Record<string, unknown>;
  if (p.state !== 'loading' && p.state !== 'ready' && p.state !== 'error') return undefined;
  const verification = p.verification === 'on' || p.verification === 'off' ? p.verification : 'unavailable';
  return {
    state: p.state,
    message: typeof p.message === 'string' ? p.message : '',
    model: typeof p.model === 'string' ? p.model : null,
    lastLatencyMs: typeof p.lastLatencyMs === 'number' && Number.isFinite(p.lastLatencyMs) ? p.lastLatencyMs : null,
    verification,
    lastCheck: parseCheck(p.lastCheck),
    acceptance: parseAcceptance(p.acceptance),
    lastPartial: p.lastPartial === true,
    busy: p.busy === true,
    busyReason: p.busy === true && typeof p.busyReason === 'string' && p.busyReason !== '' ? p.busyReason : null,
  };
}

function parseCheck(value: unknown): StatusParams['lastCheck'] {
  if (typeof value !== 'object' || value === null) return null;
  const c = value as Record<string, unknown>;
  if (typeof c.label !== 'string') return null;
  const alternatives =
    c.alternatives === 'searching' || c.alternatives === 'found' || c.alternatives === 'none' ? c.alternatives : null;
  const tried = (c.alternativesSearch as { tried?: unknown } | null | undefined)?.tried;
  return {
    label: c.label,
    reason: typeof c.reason === 'string' ? c.reason : '',
    shown: c.shown !== false,
    alternatives,
    tried: typeof tried === 'number' && Number.isFinite(tried) ? tried : null,
  };
}

/** The tooltip's line about the search for a verified replacement of a suggestion that failed its tests. */
function alternativesLine(check: NonNullable<StatusParams['lastCheck']>): string | undefined {
  const tried = check.tried === null ? '' : ` (${check.tried} tried)`;
  switch (check.alternatives) {
    case 'searching':
      return 'withdrawn: its tests fail; searching for another suggestion whose tests pass…';
    case 'found':
      return `it replaces a suggestion whose tests failed${tried}`;
    case 'none':
      return `withdrawn: its tests fail; no other suggestion passed them${tried}`;
    default:
      return undefined;
  }
}

/** A duration as people read it: "85 ms", "1.7 s". */
export function formatLatency(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The last check's label, short enough for the status bar, with a codicon for the two outcomes that matter most. */
function checkBadge(check: StatusParams['lastCheck']): string {
  if (!check) return '';
  if (!check.shown) return check.alternatives === 'searching' ? ' · $(close) hidden · $(search) searching' : ' · $(close) hidden';
  if (check.label.startsWith('verified')) return ' · $(pass) verified';
  return ` · ${check.label}`;
}

/**
 * Status bar text (with codicons) and tooltip for a status.
 *
 * `editorLatencyMs` is the time from the editor asking for the last inline suggestion that came back non-empty to
 * its answer, measured by the client: what the user waited, shown in the status bar. The server's `lastLatencyMs` is
 * the last completion request's latency as the server saw it (its arrival to its answer: debounce, queueing, model
 * and checks), for any completion, empty ones included, so it goes in the tooltip. `busy` (with `busyReason`) and
 * `lastPartial` come from servers that report them; absent, they read as false.
 */
export function statusBarText(
  status: StatusParams | undefined,
  editorLatencyMs: number | null = null,
  off: string | undefined = undefined,
): { text: string; tooltip: string } {
  if (status === undefined) {
    return { text: '$(circle-slash) codeassist', tooltip: 'codeassist: server not running' };
  }
  if (off !== undefined) {
    return { text: '$(circle-slash) codeassist off', tooltip: `codeassist: suggestions are off ${off}\nclick to switch them on` };
  }
  const lines = [`codeassist: ${status.state}`];
  if (status.message) lines.push(status.message);
  if (status.model) lines.push(`model: ${status.model}`);
  if (editorLatencyMs !== null) lines.push(`last suggestion shown after ${formatLatency(editorLatencyMs)}`);
  if (status.lastLatencyMs !== null) {
    const partial = status.lastPartial ? ' (partial: cut by the time cap)' : '';
    lines.push(`last completion request answered in ${formatLatency(status.lastLatencyMs)}${partial}`);
  } else if (status.lastPartial) {
    lines.push('last suggestion partial: cut by the time cap');
  }
  if (status.busy) lines.push(`busy: ${status.busyReason ?? 'completions are slowed down'}`);
  lines.push(`verification: ${status.verification}`);
  if (status.lastCheck) {
    const why = status.lastCheck.reason ? ` (${status.lastCheck.reason})` : '';
    lines.push(`last suggestion: ${status.lastCheck.label}${why}${status.lastCheck.shown ? '' : ', hidden'}`);
    const search = alternativesLine(status.lastCheck);
    if (search) lines.push(search);
  }
  const today = acceptanceLine(status.acceptance);
  if (today) lines.push(today);
  lines.push('click for the codeassist menu');
  const tooltip = lines.join('\n');
  switch (status.state) {
    case 'loading':
      return { text: '$(loading~spin) codeassist', tooltip };
    case 'error':
      return { text: '$(error) codeassist', tooltip };
    case 'ready': {
      const latency = editorLatencyMs !== null ? ` ${formatLatency(editorLatencyMs)}` : '';
      const partial = status.lastPartial ? ' · partial' : '';
      const busy = status.busy ? ' · $(watch) busy' : '';
      return { text: `$(sparkle) codeassist${latency}${checkBadge(status.lastCheck)}${partial}${busy}`, tooltip };
    }
  }
}

/**
 * With codeAction/resolve support the server sends the Explain action as `data: {explain: {uri, range}}` and fills
 * in its command on resolve. VS Code applies only the `edit` of a resolved action, so the client builds the command
 * from that data up front. Returns undefined for any other action.
 */
export function explainCommandFromData(
  title: string,
  data: unknown,
): { title: string; command: string; arguments: unknown[] } | undefined {
  const explain = (data as { explain?: { uri?: unknown; range?: unknown } } | null | undefined)?.explain;
  if (!explain || typeof explain.uri !== 'string' || typeof explain.range !== 'object' || explain.range === null) {
    return undefined;
  }
  return { title, command: EXPLAIN_COMMAND, arguments: [explain.uri, explain.range] };
}


/** JSON-RPC / LSP error codes the client tells apart. */
export const ErrorCode = {
  RequestCancelled: -32800,
  ContentModified: -32801,
  ServerCancelled: -32802,
  RequestFailed: -32803,
  InvalidParams: -32602,
} as const;

const FIX_TITLE = /^codeassist: Fix “(.*)” \((.*)\)$/s;

/** Whether a code action (by title) is one of our fixes. */
export function isFixTitle(title: string): boolean {
  return FIX_TITLE.test(title);
}

/** A fix title's parts: `codeassist: Fix “<problem>” (<verdict>)`; the verdict may hold parentheses itself. */
export function parseFixTitle(title: string): { problem: string; verdict: string } | undefined {
  const m = FIX_TITLE.exec(title);
  return m ? { problem: m[1], verdict: m[2] } : undefined;
}

/**
 * The notification after a fix was resolved: the verdict the server put in the resolved title ("verified: tests
 * pass", "compiles", "unverified (reason)"). VS Code lists a code action under the title it had before resolve and
 * never shows the resolved one, so this is where the user learns how the applied fix was checked.
 */
export function fixOutcome(resolvedTitle: string): { message: string; level: 'info' | 'warning' } {
  const parts = parseFixTitle(resolvedTitle);
  if (!parts) return { message: `codeassist: applied “${resolvedTitle}”`, level: 'info' };
  const checked = parts.verdict.startsWith('verified') || parts.verdict.startsWith('compiles');
  return {
    message: `codeassist: fix applied for “${parts.problem}” — ${parts.verdict}`,
    level: checked ? 'info' : 'warning',
  };
}

/** A readable message for a failed `codeAction/resolve` of a fix (undefined: say nothing, e.g. the user cancelled). */
export function fixErrorMessage(code: number | undefined, message: string): string | undefined {
  const reason = message.replace(/^Request codeAction\/resolve failed[.:]?\s*/i, '').trim();
  switch (code) {
    case ErrorCode.RequestCancelled:
    case ErrorCode.ServerCancelled:
      return undefined;
    case ErrorCode.ContentModified:
      return 'codeassist: the file changed while the fix was being made; ask for it again (Ctrl+.).';
    case ErrorCode.RequestFailed:
      return `codeassist: no fix offered: ${reason || 'the model proposed nothing'}.`;
    default:
      return `codeassist: the fix could not be made: ${reason || `error ${code}`}.`;
  }
}

/** Definition lines, per language family: the name is the first group. */
const DEFINITIONS: RegExp[] = [
  /^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/, // Python
  /^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)/, // JS/TS
  /^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?(?:class|interface|struct|enum|trait|impl)\s+([A-Za-z_$][\w$]*)/,
  /^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s*)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*=>/,
  /^\s*func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)/, // Go
  /^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+([A-Za-z_]\w*)/, // Rust
  /^\s*(?:[\w:<>,*&\[\]]+\s+)+\**([A-Za-z_]\w*)\s*\([^;]*$/, // C, C++, Java: "type name(args) {"
];
const NOT_NAMES = new Set(['if', 'for', 'while', 'switch', 'return', 'catch', 'else', 'new', 'sizeof', 'do', 'case']);

function definitionName(line: string): string | undefined {
  for (const re of DEFINITIONS) {
    const name = re.exec(line)?.[1];
    if (name && !NOT_NAMES.has(name)) return name;
  }
  return undefined;
}

const indentOf = (line: string): number => line.length - line.trimStart().length;

/**
 * The function (or class) an explanation is about, for its title: a definition the selection starts with, else the
 * nearest definition above it that is indented less than the selection's first line. A heuristic on the text, so
 * the title is known before the server answers; undefined when nothing fits.
 */
export function enclosingName(lines: string[], start: number, end: number): string | undefined {
  const first = lines.slice(start, end + 1).findIndex((l) => l.trim() !== '');
  if (first < 0) return undefined;
  const own = definitionName(lines[start + first]);
  if (own) return own;
  const indent = indentOf(lines[start + first]);
  for (let i = start + first - 1; i >= Math.max(0, start - 5000); i--) {
    const line = lines[i];
    if (line.trim() === '' || indentOf(line) >= indent) continue;
    const name = definitionName(line);
    if (name) return name;
  }
  return undefined;
}

/** The explanation's title: "Explain median", else "Explain stats.py:11-17" (1-based lines). */
export function explainTitle(name: string | undefined, file: string, start: number, end: number): string {
  if (name) return `Explain ${name}`;
  return start === end ? `Explain ${file}:${start + 1}` : `Explain ${file}:${start + 1}-${end + 1}`;
}
