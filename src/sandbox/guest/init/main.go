// Strata's guest init: PID 1 of every VM-class sandbox (microvm, vm, kata, xen). It mounts the image's
// read-only root disk under a tmpfs overlay (the guest kernel has its drivers built in), configures
// the network, starts the app from the run file as the image's user, and speaks JSON lines with the host
// over two virtio-serial ports (protocol.go). Standard library only, built static (CGO_ENABLED=0) by
// src/sandbox/guest/assets.ts.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == containerInitArg {
		containerInit(os.Args[2]) // agent mode: PID 1 of a container's namespaces (agent.go)
	}
	if len(os.Args) == 2 && os.Args[1] == xenPoweroffArg {
		os.Exit(xenPoweroffHelper())
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "strata-guest-init runs as PID 1 inside a guest")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "strata-guest-init: %v\n", err)
		logf("strata-guest-init: %v", err)
		sendExit(-1, "exited", err.Error())
	}
	poweroff()
}

func run() error {
	if err := mountBase(); err != nil {
		return err
	}
	if err := openPorts(); err != nil {
		return err
	}
	go watchPowerButton()
	go watchXenShutdown()
	if agentMode() {
		return runAgent() // the kata driver: an OCI container inside the guest (agent.go)
	}
	runDisk, err := diskPath("vdb")
	if err != nil {
		return err
	}
	cfg, err := readRunFile(runDisk)
	if err != nil {
		return err
	}
	root, err := diskPath("vda")
	if err != nil {
		return err
	}
	if err := mountRoot(root, cfg); err != nil {
		return err
	}
	if err := setupNetwork(cfg.Net); err != nil {
		return err
	}
	if cfg.RuntimeAPI != nil {
		if err := startRuntimeRelay(*cfg.RuntimeAPI); err != nil {
			return fmt.Errorf("the Runtime API relay: %w", err)
		}
	}
	go serveControl()
	go serveExec(appExecTarget(cfg))
	return runApp(cfg)
}

// poweroff ends the VM: the VMM runs with -no-reboot (QEMU) or exits on reboot (Firecracker).
func poweroff() {
	drainVsockLog()
	syscall.Sync()
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
	select {}
}
