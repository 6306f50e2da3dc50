/**
 * What the extension says to `codeassist serve`, kept free of any `vscode` import so that the Node protocol test
 * (src/test/protocol.test.ts) drives the real server with exactly the same launch command, initializationOptions,
 * configuration payloads and status parsing as the extension does.
 */

/** The configuration section, in VS Code settings and in `workspace/didChangeConfiguration`. */
export const SECTION = 'codeassist';

/** Custom server -> client notification carrying the model state. */
export const STATUS_NOTIFICATION = 'codeassist/status';

/** Server command behind the "codeassist: Explain" code action; args: [uri, range]; result: Markdown. */
export const EXPLAIN_COMMAND = 'codeassist.explain';

/** Settings forwarded to the server, with the JSON type each one must have. Everything else stays client-side. */
export const SERVER_SETTINGS = {
  model: 'string',
  threads: 'integer',
  n_ctx: 'integer',
  max_tokens: 'integer',
  debounce_ms: 'integer',
  timeout_ms: 'integer',
  verify: 'string',
  verify_actions: 'string',
  sandbox_image: 'string',
  languages: 'string[]',
} as const;

export type ServerSettingName = keyof typeof SERVER_SETTINGS;

export type ServerSettings = {
  model?: string;
  threads?: number;
  n_ctx?: number;
  max_tokens?: number;
  debounce_ms?: number;
  timeout_ms?: number;
  verify?: 'off' | 'syntax' | 'sandbox';
  verify_actions?: 'off' | 'syntax' | 'sandbox';
  sandbox_image?: string;
  languages?: string[];
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
    if (value === undefined || value === null || value === '') continue;
    if (!valid(name, value)) {
      problems.push(`${SECTION}.${name}: invalid value ${JSON.stringify(value)} (expected ${SERVER_SETTINGS[name]})`);
      continue;
    }
    out[name] = name === 'model' || name === 'sandbox_image' ? String(value).trim() : value;
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
  lastLatencyMs: number | null;
  verification: 'on' | 'off' | 'unavailable';
  /** How the last completion was checked before it was shown (null before the first one). */
  lastCheck: { label: string; reason: string; shown: boolean } | null;
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
  };
}

function parseCheck(value: unknown): StatusParams['lastCheck'] {
  if (typeof value !== 'object' || value === null) return null;
  const c = value as Record<string, unknown>;
  if (typeof c.label !== 'string') return null;
  return { label: c.label, reason: typeof c.reason === 'string' ? c.reason : '', shown: c.shown !== false };
}

/** Status bar text (with a codicon) and tooltip for a status. */
export function statusBarText(status: StatusParams | undefined): { text: string; tooltip: string } {
  if (status === undefined) {
    return { text: '$(circle-slash) codeassist', tooltip: 'codeassist: server not running' };
  }
  const lines = [`codeassist: ${status.state}`];
  if (status.message) lines.push(status.message);
  if (status.model) lines.push(`model: ${status.model}`);
  if (status.lastLatencyMs !== null) lines.push(`last completion: ${Math.round(status.lastLatencyMs)} ms`);
  lines.push(`verification: ${status.verification}`);
  if (status.lastCheck) {
    const why = status.lastCheck.reason ? ` (${status.lastCheck.reason})` : '';
    lines.push(`last suggestion: ${status.lastCheck.label}${why}${status.lastCheck.shown ? '' : ', hidden'}`);
  }
  const tooltip = lines.join('\n');
  switch (status.state) {
    case 'loading':
      return { text: '$(loading~spin) codeassist', tooltip };
    case 'error':
      return { text: '$(error) codeassist', tooltip };
    case 'ready': {
      const latency = status.lastLatencyMs !== null ? ` ${Math.round(status.lastLatencyMs)}ms` : '';
      const check = status.lastCheck?.label.startsWith('verified') ? ' $(pass)' : status.lastCheck?.shown === false ? ' $(close)' : '';
      return { text: `$(sparkle) codeassist${latency}${check}`, tooltip };
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
