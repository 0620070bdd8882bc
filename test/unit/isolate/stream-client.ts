import type { IncomingMessage } from "node:http";

/**
 * Reads an HTTP response as it arrives: text received so far, waiting for more, and how the body
 * ended ("end": complete; "aborted": the connection closed before the body's end).
 */
export class StreamedResponse {
  text = "";
  ended: "end" | "aborted" | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly res: IncomingMessage) {
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      this.text += c;
      this.poke();
    });
    res.on("end", () => this.finish("end"));
    res.on("error", () => this.finish("aborted"));
    res.on("close", () => this.finish(res.complete ? "end" : "aborted"));
  }

  private finish(how: "end" | "aborted"): void {
    this.ended ??= how;
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits until the text received so far matches `pattern`, or the body ended (bounded by timeoutMs). */
  async until(pattern: RegExp | null, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!(pattern?.test(this.text) ?? false) && this.ended === null) {
      if (Date.now() > deadline) throw new Error(`no ${pattern ?? "end"} in the response within ${timeoutMs} ms; got ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.text;
  }

  /** Waits for the body's end (or abort), bounded by timeoutMs. */
  async done(timeoutMs = 10_000): Promise<"end" | "aborted"> {
    await this.until(null, timeoutMs);
    return this.ended!;
  }
}
