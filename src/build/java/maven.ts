import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { Layer } from "../../images/index.js";
import type { ImageBuildContext } from "../image-builder.js";
import { cachedLayer, dependencyCacheRef, hashTree, runStep, runStepLayer, sha256, storeCachedLayer, type StepLayerOptions } from "../buildpack/layers.js";
import { readIfExists } from "../buildpack/source.js";
import type { BuildStep } from "../buildpack/step.js";

/**
 * `mvn package` for a Java app, as Google's Java buildpack runs it (batch mode, tests skipped), with its
 * local repository (/m2: every dependency and plugin Maven fetched from Maven Central) kept as a cached
 * layer keyed by the POM: a build whose pom.xml (and .mvn/ settings) are unchanged runs over that layer
 * offline (`mvn -o`, no network at all), so a code-only change downloads nothing. A changed POM builds
 * with an outbound network and stores a new repository layer.
 */

/** Bump when the repository layer's recipe changes. */
const REPO_RECIPE_VERSION = 1;
const REPO = "/m2";

/**
 * The JDK trusts its own cacerts, not the PEM bundle an outbound step gets from the host (BuildStep mounts
 * it, so that a host behind a TLS-inspecting proxy reaches the registry): this single-file program (run as
 * `java Trust.java`) writes a PKCS12 trust store with the JDK's roots and every certificate of the bundle.
 */
const TRUST_SOURCE = `import java.io.*;
import java.nio.file.*;
import java.security.KeyStore;
import java.security.cert.*;

public class Trust {
  public static void main(String[] args) throws Exception {
    char[] password = "changeit".toCharArray();
    KeyStore out = KeyStore.getInstance("PKCS12");
    out.load(null, password);
    KeyStore jdk = KeyStore.getInstance(KeyStore.getDefaultType());
    try (InputStream in = Files.newInputStream(Paths.get(System.getProperty("java.home"), "lib", "security", "cacerts"))) {
      jdk.load(in, null);
    }
    for (String alias : java.util.Collections.list(jdk.aliases())) out.setCertificateEntry("jdk-" + alias, jdk.getCertificate(alias));
    int n = 0;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(Paths.get(args[0])))) {
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) out.setCertificateEntry("bundle-" + n++, c);
    }
    try (OutputStream o = Files.newOutputStream(Paths.get(args[1]))) {
      out.store(o, password);
    }
  }
}`;

/**
 * Copies the read-only source to a scratch dir (tmpfs: not part of the layer), packages it, and copies
 * each jar whose manifest names a Main-Class to /out/jars. Maven's output goes to stderr so that its
 * [ERROR] lines reach the failure message. $1: "-o" for an offline build, or "".
 */
const PACKAGE_SCRIPT = `set -e
cp -a /workspace /tmp/build
cd /tmp/build
if [ "$1" != "-o" ]; then
  cat > /tmp/Trust.java <<'JAVA'
${TRUST_SOURCE}
JAVA
  java /tmp/Trust.java /etc/ssl/certs/ca-certificates.crt /tmp/truststore.p12
  export MAVEN_OPTS="$MAVEN_OPTS -Djavax.net.ssl.trustStore=/tmp/truststore.p12 -Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12"
fi
mvn -B -ntp $1 -Dmaven.repo.local=${REPO} -DskipTests package 1>&2
mkdir -p /out/jars
for j in target/*.jar; do
  [ -f "$j" ] || continue
  case "$j" in *-sources.jar|*-javadoc.jar|*-tests.jar) continue;; esac
  rm -rf /tmp/mf && mkdir /tmp/mf
  (cd /tmp/mf && jar xf "/tmp/build/$j" META-INF/MANIFEST.MF) || continue
  if grep -qi '^Main-Class:' /tmp/mf/META-INF/MANIFEST.MF 2>/dev/null; then cp "$j" /out/jars/; fi
done
`;

export interface MavenResult {
  /** Host paths of the runnable jars the build made (Main-Class in their manifest). */
  jars: string[];
  /** True when the repository layer came from the cache (the build ran offline). */
  cached: boolean;
  /** The repository layer's cache ref, for the image's BUILD_CACHE_LABEL. */
  cacheRef: string;
}

/** Runs the Maven build over the JDK image `jdk`; the runnable jars land in `outDir/jars`. */
export async function mavenPackage(ctx: ImageBuildContext, jdk: readonly Layer[], jdkEnv: readonly string[], outDir: string): Promise<MavenResult> {
  const pom = (await readIfExists(join(ctx.sourceDir, "pom.xml"))) ?? "";
  const key = sha256(String(REPO_RECIPE_VERSION), jdk.map((l) => l.diffId).join(","), pom, await hashTree(join(ctx.sourceDir, ".mvn")));
  const cacheRef = dependencyCacheRef("maven-repo", key);
  await mkdir(outDir, { recursive: true, mode: 0o755 });
  const hit = await cachedLayer(ctx.layout, cacheRef);
  if (hit) {
    ctx.log(`dependencies: reusing the Maven repository layer ${hit.descriptor.digest.slice(0, 19)} (pom.xml unchanged); building offline`);
    try {
      await runStep(ctx, stepOptions(ctx, [...jdk, hit], jdkEnv, outDir, "none"), (step) => mvnPackage(step, true));
      return { jars: await jarsIn(outDir), cached: true, cacheRef };
    } catch (err) {
      const output = failureOutput(err);
      if (!/offline mode|has not been downloaded from it before/i.test(output)) throw packageFailed(output, err);
      ctx.log("the cached repository lacks an artifact this build needs; resolving from Maven Central again");
      await rm(join(outDir, "jars"), { recursive: true, force: true });
    }
  } else {
    ctx.log("dependencies: resolving pom.xml from Maven Central");
  }
  const repo = await runStepLayer(ctx, stepOptions(ctx, jdk, jdkEnv, outDir, "outbound"), async (step) => {
    try {
      await mvnPackage(step, false);
    } catch (err) {
      throw packageFailed(failureOutput(err), err);
    }
  });
  await storeCachedLayer(ctx.layout, cacheRef, jdk, repo);
  return { jars: await jarsIn(outDir), cached: false, cacheRef };
}

function stepOptions(ctx: ImageBuildContext, below: readonly Layer[], jdkEnv: readonly string[], outDir: string, network: "none" | "outbound"): StepLayerOptions {
  return {
    purpose: "maven",
    below,
    mounts: [
      { source: ctx.sourceDir, destination: "/workspace", readonly: true },
      { source: outDir, destination: "/out", readonly: false },
    ],
    network,
    env: [...jdkEnv, "MAVEN_OPTS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1"],
  };
}

async function mvnPackage(step: BuildStep, offline: boolean): Promise<void> {
  await step.run({ argv: ["/bin/sh", "-c", PACKAGE_SCRIPT, "package", offline ? "-o" : ""], cwd: "/" });
}

async function jarsIn(outDir: string): Promise<string[]> {
  const dir = join(outDir, "jars");
  await mkdir(dir, { recursive: true });
  return (await readdir(dir)).filter((f) => f.endsWith(".jar")).sort().map((f) => join(dir, f));
}

function failureOutput(err: unknown): string {
  return String((err as StrataError).details?.["stderr"] ?? (err as Error).message);
}

function packageFailed(output: string, cause: unknown): StrataError {
  const errors = output.split("\n").filter((l) => l.startsWith("[ERROR]") && l.trim() !== "[ERROR]" && !/Re-run Maven|full stack trace|help 1\]|-e switch|-X switch|For more information|Help 1/.test(l));
  const reason = (errors.length ? errors : output.trim().split("\n").slice(-10)).join("\n");
  return new StrataError(
    "BUILD_FAILED",
    `mvn package failed:\n${reason}\nTo fix: run \`mvn -B package\` in the app's folder and fix what it reports; dependencies must be on Maven Central (or in a repository the pom.xml names that the build can reach).`,
    { output },
    { cause },
  );
}
