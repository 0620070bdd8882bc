/**
 * The seccomp profile every OCI instance runs under: allow by default, deny (EPERM) the syscalls a web app
 * never needs and a container escape usually does, in the spirit of Docker's default profile but as a
 * denylist. Data only; bundle.ts puts it in config.json and runc/crun compile it with libseccomp.
 */
const EPERM = 1;
const ENOSYS = 38;

/** Kernel, mount, namespace, module, tracing, keyring, clock and swap control. */
const DENIED = [
  // mounts and root switching (the rootfs is prepared by the runtime before the filter applies)
  "mount", "umount", "umount2", "pivot_root", "chroot",
  "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
  // new namespaces or joining others' (flag-filtered clone is below)
  "unshare", "setns",
  // kernel and modules
  "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
  "reboot", "swapon", "swapoff", "acct", "syslog", "iopl", "ioperm", "uselib", "nfsservctl",
  "get_kernel_syms", "query_module", "_sysctl", "sysfs", "vhangup", "quotactl", "quotactl_fd", "lookup_dcookie",
  // tracing, other processes' memory, eBPF, perf
  "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "bpf", "perf_event_open", "fanotify_init",
  // keyrings are not namespaced
  "keyctl", "add_key", "request_key",
  // host clocks
  "settimeofday", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64", "adjtimex", "stime",
  // file handles bypass the mount namespace (the classic "shocker" escape)
  "open_by_handle_at", "name_to_handle_at",
  // large kernel attack surface with no use for a web app here
  "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
] as const;

/** clone() flags that make a namespace; clone with any of them is denied (one rule per flag). */
const CLONE_NAMESPACE_FLAGS = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
} as const;

export interface SeccompProfile {
  defaultAction: string;
  architectures: string[];
  syscalls: Array<{
    names: string[];
    action: string;
    errnoRet?: number;
    args?: Array<{ index: number; value: number; valueTwo: number; op: string }>;
  }>;
}

export function seccompProfile(): SeccompProfile {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    // Naming the 32-bit ABIs makes libseccomp apply the same names to their syscall numbers too.
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      { names: [...DENIED], action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
      ...Object.values(CLONE_NAMESPACE_FLAGS).map((flag) => ({
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }],
      })),
      // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libcs fall back to clone().
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
    ],
  };
}
