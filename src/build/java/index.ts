/** The Java buildpack: Maven in the JDK image, the runnable jar on a JRE-only image. */
export { JavaBuilder } from "./builder.js";
export { askedJavaVersion } from "./version.js";
