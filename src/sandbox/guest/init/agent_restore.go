package main

// After a snapshot restore in agent mode (the kata driver), the instance's identity is the container's:
// its /etc/hosts lives in the container's root and its hostname in the container's own UTS namespace,
// which the guest init's sethostname does not reach. The clock, entropy and eth0 are the guest's, and
// restored() (protocol.go) resets those for both modes.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// containerIdentity names the restored container: /etc/hosts in its root (the overlay the agent made,
// seen from the guest's mount namespace) and its hostname, set from a thread joined to its UTS namespace.
func containerIdentity(run *AgentRun, hostname, address string) error {
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n", address, hostname)
	if err := os.WriteFile(filepath.Join(containersDir, run.ContainerID, "rootfs", "etc/hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	appMu.Lock()
	proc := appProc
	appMu.Unlock()
	if proc == nil {
		return fmt.Errorf("no container runs to rename")
	}
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine instead of going back, in the container's
		// UTS namespace, to the scheduler's pool.
		runtime.LockOSThread()
		done <- setnsHostname(proc.Pid, hostname)
	}()
	return <-done
}

func setnsHostname(pid int, hostname string) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/uts", pid))
	if err != nil {
		return err
	}
	defer ns.Close()
	if _, _, e := syscall.RawSyscall(sysSetns, ns.Fd(), syscall.CLONE_NEWUTS, 0); e != 0 {
		return fmt.Errorf("joining the container's UTS namespace: %w", e)
	}
	return syscall.Sethostname([]byte(hostname))
}
