/**
 * Kernel arguments every QEMU guest of Strata boots with (microvm, kata, vm): a console on the first serial
 * port kept quiet, no reboot on panic (the VMM exits and the instance is reported dead), the initramfs's own
 * init, a TSC a TCG guest can trust, and no boot-time work that only checks or traces the kernel itself.
 */
export function guestKernelArgs(tscKhz: number | undefined): string[] {
  // Without tsc_early_khz the kernel calibrates the TSC against a timer TCG emulates slowly, and about one
  // microvm boot in three hangs there; with it (and tsc=reliable: no watchdog) it boots every time.
  const tsc = tscKhz ? [`tsc_early_khz=${tscKhz}`, "tsc=reliable"] : [];
  return ["console=ttyS0", "quiet", "panic=-1", "reboot=t", "rdinit=/init", ...SELF_CHECKS_SKIPPED, ...tsc];
}

/**
 * Boot work that a guest gains nothing from, found with `initcall_debug` under TCG: the crypto self-tests
 * (crypto_algapi_init was by far the slowest initcall of Debian's cloud kernel; ~750 ms less VMM CPU to the
 * first 200 of ~4.2 s), a KDF's self-test (crypto_kdf108_init, 64-92 ms of guest time in four boots), perf's
 * sysfs entries and the certificates that would verify module signatures (10-23 ms each; the guest kernel
 * loads no modules). Tracing, whose set-up was 100-150 ms more, is not built into the guest kernel
 * (scripts/guest-kernel.config). Not skipped: what a guest or its apps may use (IPv6, slab and ACPI set-up).
 * Measured and not kept: `audit=0 nowatchdog no_timer_check` and the i8042 and noreplace-smp switches
 * (restores took ~300 ms more VMM CPU for no clear gain at boot).
 */
const SELF_CHECKS_SKIPPED = [
  "cryptomgr.notests",
  "initcall_blacklist=crypto_kdf108_init,perf_event_sysfs_init,load_system_certificate_list",
];
