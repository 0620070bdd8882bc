/**
 * Turns chunks of subprocess output into whole lines for a progress callback. `flush()` emits a final
 * line that had no newline.
 */
export function lineSplitter(onLine: (line: string) => void): { write(chunk: string): void; flush(): void } {
  let pending = "";
  return {
    write(chunk: string) {
      pending += chunk;
      const parts = pending.split(/\r?\n|\r/);
      pending = parts.pop() ?? "";
      for (const p of parts) if (p.trim()) onLine(p);
    },
    flush() {
      if (pending.trim()) onLine(pending);
      pending = "";
    },
  };
}
