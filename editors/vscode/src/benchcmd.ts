/**
 * "codeassist: Benchmark this workspace": the parts that need no VS Code (unit-tested in test/bench.test.ts).
 *
 * The command runs the installed CLI's `codeassist bench repo <folder>` — the same benchmark the CLI and bench/ use,
 * so the editor reports what the project measures — and opens the Markdown report the CLI wrote. The CLI prints its
 * progress bar on stderr and ends stdout with "Rows, report.json and report.md: <dir>"; that line is how the report
 * is found (its default directory is under the user cache dir, which only the CLI knows).
 */
import * as path from 'node:path';

/** Holes per benchmark run from the editor: small, so the first answer comes in minutes, not an hour. */
export const DEFAULT_BENCH_HOLES = 10;

/**
 * `<serverPath> bench repo --holes N [--set KEY=JSON ...] <folder>` as a program and its arguments (no shell: paths
 * stay intact). The editor's server settings go along as `--set`, so the benchmark measures the suggestions this
 * editor gets (the workspace's [tool.codeassist] still applies under them, as in the editor).
 */
export function benchCommand(
  serverPath: unknown,
  folder: string,
  holes: unknown = DEFAULT_BENCH_HOLES,
  settings: Record<string, unknown> = {},
): { command: string; args: string[] } {
  const command = typeof serverPath === 'string' && serverPath.trim() !== '' ? serverPath.trim() : 'codeassist';
  const n = typeof holes === 'number' && Number.isInteger(holes) && holes >= 1 ? holes : DEFAULT_BENCH_HOLES;
  const sets = Object.entries(settings).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]);
  return { command, args: ['bench', 'repo', '--holes', String(n), ...sets, folder] };
}

/** The report.md the CLI wrote, from its stdout; undefined when the line is missing (an older CLI, or `--json`). */
export function reportPath(stdout: string): string | undefined {
  const m = /^Rows, report\.json and report\.md: (.+?)\s*$/m.exec(stdout);
  return m ? path.join(m[1], 'report.md') : undefined;
}

/** The last few lines of a stream, for the failure message (the progress bar redraws with \r: each is a line). */
export class Tail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly keep = 5) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r\n|\r|\n/);
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.add(p);
  }

  /** The newest complete-or-partial line (what the progress notification shows). */
  last(): string | undefined {
    const p = clean(this.partial);
    return p !== '' ? p : this.lines[this.lines.length - 1];
  }

  text(): string {
    const all = [...this.lines];
    const p = clean(this.partial);
    if (p !== '') all.push(p);
    return all.slice(-this.keep).join('\n');
  }

  private add(line: string): void {
    const c = clean(line);
    if (c === '') return;
    this.lines.push(c);
    if (this.lines.length > this.keep) this.lines.shift();
  }
}

/** Drop terminal escapes (the CLI clears to end of line on a TTY) and surrounding blanks. */
function clean(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim();
}

/** A progress line for the notification: "calc codeassist [####----] 4/10  shown 3  passed 2  12 s" -> "4/10 …". */
export function progressText(line: string | undefined): string {
  if (!line) return 'starting…';
  const m = /\[[#-]+\]\s*(.*)$/.exec(line);
  return (m ? m[1] : line).replace(/\s{2,}/g, ' · ');
}

/** Why the run failed, for the error notification: exit code (or signal) and the last stderr lines. */
export function failureMessage(code: number | null, signal: string | null, stderrTail: string): string {
  const how = code !== null ? `exit code ${code}` : `killed by ${signal ?? 'a signal'}`;
  const tail = stderrTail.trim();
  return `codeassist: the benchmark failed (${how})${tail ? `: ${tail}` : '.'}`;
}

/** Why the program did not start (usually: not installed where serverPath says). */
export function spawnFailureMessage(command: string, err: string): string {
  if (/ENOENT/.test(err)) {
    return `codeassist: the program "${command}" was not found; set "codeassist.serverPath" to the codeassist executable.`;
  }
  return `codeassist: could not run "${command} bench repo" (${err}).`;
}
