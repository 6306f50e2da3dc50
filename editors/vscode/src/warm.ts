/**
 * `codeassist/warm`: where the cursor rests once a document comes to the front, the model becomes ready, or a click
 * moves the cursor. LSP tells the server nothing about the cursor before the first completion request, which then
 * pays for the whole prompt (with the 1.5B tier on 2 cores, more than the 5 s cap: the first suggestion in a file
 * was the one most often lost). With this the server evaluates the prompt there while the user reads, in the
 * background (any real request stops it), and the first request reuses it.
 *
 * Typing does not send it (the server warms after a typing pause by itself, and prefetches after an acceptance);
 * a change cancels one still waiting. No `vscode` import: unit-tested under node.
 */

export const WARM_NOTIFICATION = 'codeassist/warm';
/** The cursor must rest this long: a click that is followed by typing at once needs no warm-up. */
export const WARM_DELAY_MS = 300;

export type WarmParams = { textDocument: { uri: string }; position: { line: number; character: number } };

export class WarmOnRest {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (params: WarmParams) => void,
    private readonly delayMs: number = WARM_DELAY_MS,
  ) {}

  /** The cursor rests at (line, character) of `uri` (LSP coordinates): send once it stayed there `delayMs`. */
  rest(uri: string, line: number, character: number): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.send({ textDocument: { uri }, position: { line, character } });
    }, this.delayMs);
  }

  /** The user typed or moved on: a warm-up still waiting is for a place they left. */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.cancel();
  }
}
