package main

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Linux input events (include/uapi/linux/input.h): struct input_event on 64-bit is a timeval (16 bytes),
// then type, code (u16) and value (s32).
const (
	inputEventSize = 24
	evKey          = 1
	keyPower       = 116
)

// watchPowerButton turns an ACPI power-button press (QEMU's system_powerdown on a full machine) into
// SIGTERM for the app, as systemd-logind does on a distribution: the app's exit then ends the VM. A
// machine without ACPI (QEMU microvm, Firecracker) has no such device, and it returns at once.
func watchPowerButton() {
	dev := powerButtonDevice()
	if dev == "" {
		return
	}
	f, err := os.Open(dev)
	if err != nil {
		logf("strata-guest-init: the power button (%s): %v", dev, err)
		return
	}
	defer f.Close()
	buf := make([]byte, inputEventSize)
	for {
		if _, err := io.ReadFull(f, buf); err != nil {
			return
		}
		typ, code := binary.LittleEndian.Uint16(buf[16:18]), binary.LittleEndian.Uint16(buf[18:20])
		if typ == evKey && code == keyPower && int32(binary.LittleEndian.Uint32(buf[20:24])) == 1 {
			signalApp(syscall.SIGTERM)
		}
	}
}

// powerButtonDevice finds the ACPI button's event device; it appears shortly after the kernel hands over to the init.
func powerButtonDevice() string {
	for i := 0; i < 50; i++ {
		names, _ := filepath.Glob("/sys/class/input/event*/device/name")
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && strings.TrimSpace(string(b)) == "Power Button" {
				return "/dev/input/" + filepath.Base(filepath.Dir(filepath.Dir(n)))
			}
		}
		if _, err := os.Stat("/sys/module/button"); err != nil {
			return "" // no ACPI button driver in this guest: nothing to wait for
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ""
}
