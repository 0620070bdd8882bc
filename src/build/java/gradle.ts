import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { readIfExists } from "../buildpack/source.js";

/**
 * Gradle builds cannot run here, and the error says why and what to do instead. Debian's gradle package
 * is 4.4.1 in bookworm and trixie and 4.7 in forky (2018), far older than any current Gradle build script
 * or plugin (Spring Boot's needs Gradle 7.6+); the Gradle wrapper fetches its distribution from
 * services.gradle.org, which is not a package registry a build can reach.
 */
export async function gradleUnsupported(sourceDir: string, buildFile: string): Promise<StrataError> {
  const wrapper = await readIfExists(join(sourceDir, "gradle", "wrapper", "gradle-wrapper.properties"));
  const distribution = wrapper === null ? undefined : /^distributionUrl\s*=\s*(\S+)/m.exec(wrapper)?.[1]?.replace(/\\:/g, ":");
  const found = distribution
    ? `the Gradle wrapper asks for ${distribution}, which a Strata build cannot download (builds reach the package registries, Maven Central among them, but not Gradle's distribution server)`
    : "the app has no Gradle wrapper, and the only Gradle Debian packages is 4.4.1 (bookworm, trixie) or 4.7 (forky), too old for current Gradle builds and plugins";
  return new StrataError(
    "BUILD_FAILED",
    `found ${buildFile}, but Strata cannot run Gradle builds: ${found}. To fix: build with Maven (add a pom.xml; Spring Boot's start.spring.io makes one), ` +
      "or build the jar yourself and deploy it with a Dockerfile (`FROM eclipse-temurin:21-jre`, `COPY app.jar /app/app.jar`, `ENTRYPOINT [\"java\", \"-jar\", \"/app/app.jar\"]`).",
    { buildFile, ...(distribution !== undefined && { distribution }) },
  );
}
