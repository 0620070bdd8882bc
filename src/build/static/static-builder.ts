import type { BlobStore } from "../../artifacts/index.js";
import type { Builder, BuildOutput, BuildRequest } from "../builder.js";
import { buildStaticTree } from "./build-tree.js";

/** Static sites: every file stored by content, the manifest is the artifact the router serves. */
export class StaticBuilder implements Builder {
  readonly name = "static";
  readonly kinds = ["static"] as const;
  readonly produces = "static-tree";

  constructor(private readonly blobs: BlobStore) {}

  async build(req: BuildRequest): Promise<BuildOutput> {
    const tree = await buildStaticTree(req.sourceDir, this.blobs, req.log);
    return { artifact: { kind: "static-tree", digest: tree.treeDigest }, runtime: req.spec?.runtime ?? "static", sizeBytes: tree.bytes };
  }
}
