import { watch } from "node:fs";
import { join } from "node:path";
import { pathExists } from "../../system/fs.js";

/**
 * Calls `onExit` once, when conmon writes the instance's exit file into `persistDir` (inotify through
 * fs.watch, not polling). Returns the function that stops watching.
 */
export function watchExit(persistDir: string, onExit: () => void): () => void {
  let done = false;
  const watcher = watch(persistDir, (_event, name) => {
    if (name === "exit") fire();
  });
  // The directory goes with the instance's clean-up; the watch ends there, and a push is then moot.
  watcher.on("error", () => stop());
  function stop(): void {
    done = true;
    watcher.close();
  }
  function fire(): void {
    if (done) return;
    stop();
    onExit();
  }
  // An instance that ended before the watch began wrote its file already.
  void pathExists(join(persistDir, "exit")).then((exists) => exists && fire());
  return stop;
}
