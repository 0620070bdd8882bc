import { StrataError } from "../errors.js";

/**
 * Decides, entry by entry and before anything is written, whether an uploaded archive is safe to
 * extract. tar itself would silently strip `..` and leading `/`; an upload that tries either is hostile
 * or broken, so it is refused whole instead.
 */

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);
const TYPE_NAMES: Record<string, string> = {
  CharacterDevice: "a character device",
  BlockDevice: "a block device",
  FIFO: "a fifo (named pipe)",
  GNUDumpDir: "a GNU dump directory",
  SparseFile: "a sparse file",
  ContinuationFile: "a multi-volume continuation",
  TapeVolumeHeader: "a tape volume header",
  SolarisACL: "a Solaris ACL",
  Inode: "an inode record",
};
/** Linux's own limit on symlinks followed while resolving one path. */
const MAX_SYMLINK_HOPS = 40;

export function describeType(type: string): string {
  return TYPE_NAMES[type] ?? `an unsupported entry type (${type})`;
}

export function refuse(entry: string, reason: string): StrataError {
  return new StrataError("INVALID_ARCHIVE", `the archive entry ${JSON.stringify(entry)} is refused: ${reason}`, {
    entry,
    reason,
  });
}

type Kind = "file" | "dir" | "symlink" | "hardlink";

export interface EntryHeader {
  path: string;
  type: string;
  size: number;
  linkpath?: string | undefined;
}

export class ArchiveChecker {
  files = 0;
  bytes = 0;
  entries = 0;
  private readonly kinds = new Map<string, Kind>();
  private readonly symlinks = new Map<string, string>();

  constructor(private readonly limits: { maxBytes: number; maxEntries: number }) {}

  /** Checks one entry in archive order; throws the refusal. */
  add(header: EntryHeader): void {
    const raw = header.path;
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new StrataError(
        "ARCHIVE_TOO_LARGE",
        `the archive has more than ${this.limits.maxEntries} entries; exclude files with .stratignore`,
        { limitEntries: this.limits.maxEntries },
      );
    }
    const kind = kindOf(header.type);
    if (!kind) throw refuse(raw, `it is ${describeType(header.type)}`);
    const path = relativePath(raw);
    if (path === "") {
      if (kind !== "dir") throw refuse(raw, "only a directory may name the archive root");
      return;
    }
    const previous = this.kinds.get(path);
    if (previous && (previous !== kind || kind === "symlink" || kind === "hardlink")) {
      throw refuse(raw, "it appears twice in the archive as different kinds of entry");
    }
    if (kind === "hardlink") this.checkHardlink(raw, header.linkpath);
    if (kind === "symlink") {
      const target = header.linkpath ?? "";
      if (target.startsWith("/")) throw refuse(raw, `it is a symbolic link to an absolute path (${target})`);
      this.symlinks.set(path, target);
    }
    if (kind === "file") {
      this.files++;
      this.bytes += header.size;
      if (this.bytes > this.limits.maxBytes) {
        throw new StrataError(
          "ARCHIVE_TOO_LARGE",
          `the archive expands to more than ${this.limits.maxBytes} bytes; exclude files with .stratignore`,
          { limitBytes: this.limits.maxBytes },
        );
      }
    }
    this.kinds.set(path, kind);
  }

  /** Checks what only the whole archive shows: where each symlink lands, and paths through symlinks. */
  finish(): void {
    for (const path of this.kinds.keys()) {
      const parts = path.split("/");
      for (let i = 1; i < parts.length; i++) {
        const ancestor = parts.slice(0, i).join("/");
        if (this.symlinks.has(ancestor)) throw refuse(path, `it lies inside the symbolic link ${ancestor}`);
      }
    }
    for (const [path, target] of this.symlinks) {
      const outcome = this.resolveSymlink(path, target);
      if (outcome === "escapes") throw refuse(path, `it is a symbolic link to ${target}, outside the archive`);
      if (outcome === "loop") throw refuse(path, `it is a symbolic link that loops (${target})`);
    }
  }

  private checkHardlink(raw: string, linkpath: string | undefined): void {
    const target = linkpath ?? "";
    if (target.startsWith("/")) throw refuse(raw, `it is a hard link to an absolute path (${target})`);
    let rel: string;
    try {
      rel = relativePath(target);
    } catch {
      // relativePath refuses `..`: report it as what it is for a link, a target outside the archive.
      throw refuse(raw, `it is a hard link to ${target}, outside the archive`);
    }
    const kind = this.kinds.get(rel);
    if (kind !== "file" && kind !== "hardlink") {
      throw refuse(raw, `it is a hard link to ${target}, which is not a file earlier in the archive`);
    }
  }

  /**
   * Follows `target` the way the kernel will once everything is extracted: each component that is a
   * symlink in the archive is replaced by its own target, and `..` walks up the real resolved path.
   */
  private resolveSymlink(path: string, target: string): "inside" | "escapes" | "loop" {
    const stack = path.split("/").slice(0, -1);
    const queue = target.split("/");
    let hops = 0;
    while (queue.length > 0) {
      const seg = queue.shift()!;
      if (seg === "" || seg === ".") continue;
      if (seg === "..") {
        if (stack.length === 0) return "escapes";
        stack.pop();
        continue;
      }
      stack.push(seg);
      const next = this.symlinks.get(stack.join("/"));
      if (next === undefined) continue;
      if (++hops > MAX_SYMLINK_HOPS) return "loop";
      if (next.startsWith("/")) return "escapes";
      stack.pop();
      queue.unshift(...next.split("/"));
    }
    return "inside";
  }
}

function kindOf(type: string): Kind | undefined {
  if (FILE_TYPES.has(type)) return "file";
  if (type === "Directory") return "dir";
  if (type === "SymbolicLink") return "symlink";
  if (type === "Link") return "hardlink";
  return undefined;
}

/** The entry's path relative to the archive root, with `.` and empty segments dropped. */
function relativePath(raw: string): string {
  if (raw.startsWith("/")) throw refuse(raw, "it has an absolute path");
  const parts: string[] = [];
  for (const seg of raw.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") throw refuse(raw, "its path contains '..', which would escape the extraction directory");
    parts.push(seg);
  }
  return parts.join("/");
}
