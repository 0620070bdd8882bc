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
 * Boot work of Debian's cloud kernel that a guest gains nothing from, found with `initcall_debug` under TCG:
 * the crypto self-tests (crypto_algapi_init was by far the slowest initcall; ~750 ms less VMM CPU to the first
 * 200 of ~4.2 s) and the initcalls that self-test a KDF, set up kprobe and printk tracing files and perf's sysfs
 * entries, and load the certificates that verify module signatures (the guest's modules carry none,
 * module-signature.ts). In four boots each: init_kprobe_trace 100-126 ms, crypto_kdf108_init 64-92 ms, the
 * rest 10-23 ms each of guest time; in two sets of interleaved boots of the small guest (12 and 16 each), the
 * VMM's CPU time to the first 200 fell from 3545 to 3080 and from 3365 to 3160 ms median. Not skipped: what a
 * guest or its apps may use (cubic TCP, IPv6, slab and ACPI set-up). Measured and not kept: `audit=0
 * nowatchdog no_timer_check` and the i8042 and noreplace-smp switches (restores took ~300 ms more VMM CPU for
 * no clear gain at boot).
 */
const SELF_CHECKS_SKIPPED = [
  "cryptomgr.notests",
  "initcall_blacklist=init_kprobe_trace,crypto_kdf108_init,init_trace_printk_function_export,tracer_init_tracefs,perf_event_sysfs_init,load_system_certificate_list",
];
