import { StrataError } from "../../errors.js";

/** The trailer the kernel's sign-file appends to a signed module (include/linux/module_signature.h). */
const MARKER = Buffer.from("~Module signature appended~\n", "latin1");
/** struct module_signature: algo, hash, id_type, signer_len, key_id_len, 3 pad bytes, then sig_len (big-endian u32). */
const SIG_INFO_BYTES = 12;

/**
 * A module without its appended signature. The guest kernel verifies a signed module at load (a SHA-256
 * over the file and an RSA check, all emulated under TCG on every cold boot); an unsigned one loads
 * without that, tainting the kernel 'E', since Debian's cloud kernel does not enforce signatures
 * (CONFIG_MODULE_SIG_FORCE unset). The modules come from Debian's package, which apt verified on the host,
 * and reach the guest only inside the initramfs Strata builds. An unsigned module is returned as it is.
 */
export function withoutModuleSignature(ko: Buffer): Buffer {
  if (ko.length < MARKER.length + SIG_INFO_BYTES || !ko.subarray(ko.length - MARKER.length).equals(MARKER)) return ko;
  const info = ko.length - MARKER.length - SIG_INFO_BYTES;
  const sigLen = ko.readUInt32BE(info + SIG_INFO_BYTES - 4);
  const signerLen = ko[info + 3]!;
  const keyIdLen = ko[info + 4]!;
  const end = info - sigLen - signerLen - keyIdLen;
  if (end <= 0) throw new StrataError("SANDBOX_UNAVAILABLE", `a guest kernel module's signature trailer claims ${sigLen + signerLen + keyIdLen} bytes of a ${ko.length}-byte file: reinstall the guest kernel (scripts/setup-host.sh)`);
  return ko.subarray(0, end);
}
