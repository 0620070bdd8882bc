package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// loadModules loads the modules listed in <dir>/order (dependencies first, as the host wrote them).
func loadModules(dir string) error {
	f, err := os.Open(filepath.Join(dir, "order"))
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name := strings.TrimSpace(s.Text())
		if name == "" {
			continue
		}
		if err := finitModule(filepath.Join(dir, name)); err != nil {
			// ENODEV: a driver for a machine this is not (a Xen frontend under QEMU), so one initramfs
			// boots as a Xen guest and under QEMU.
			if errors.Is(err, syscall.ENODEV) {
				fmt.Fprintf(os.Stderr, "strata-guest-init: module %s: not this machine's (ENODEV)\n", name)
				continue
			}
			return fmt.Errorf("loading module %s: %w", name, err)
		}
	}
	return s.Err()
}

// finit_module(2) on x86_64; the syscall package predates it.
const sysFinitModule = 313

func finitModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	params := []byte{0}
	_, _, errno := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafePointer(params)), 0)
	if errno != 0 && errno != syscall.EEXIST {
		return errno
	}
	return nil
}
