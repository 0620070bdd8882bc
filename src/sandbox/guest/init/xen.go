package main

// Xen PVH guests: the same init, other device names. xen-blkfront names the disks xvda, xvdb... where
// virtio-blk names them vda, vdb...; the log and control channels are Xen PV consoles (hvc1, hvc2...,
// hvc0 being the primary console) named in xenstore (xen's docs/misc/channel.txt), not virtio-serial ports.

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// diskPath is the block device for a virtio name ("vdb"): it, or its Xen name (xvdb), whichever appears.
// xen-blkfront connects to its backend after the init starts, so wait a bounded moment for it.
func diskPath(virtioName string) (string, error) {
	candidates := []string{"/dev/" + virtioName, "/dev/x" + virtioName}
	for i := 0; i < 300; i++ {
		for _, p := range candidates {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("no disk %s (neither %s)", candidates[0], strings.Join(candidates[1:], " nor "))
}

// findPort is a named host channel: a virtio-serial port (QEMU), else a Xen PV channel.
func findPort(name string) (string, error) {
	p, err := portByName(name)
	if err == nil {
		return p, nil
	}
	if _, statErr := os.Stat("/dev/xen/xenbus"); statErr != nil {
		return "", err
	}
	return xenChannelByName(name)
}

// xenChannelByName finds the console frontend device/console/N whose xenstore name is `name`. hvc_xen
// gives each frontend console the first free hvc index as it connects; channels are not hotplugged, so
// they connect at boot in devid order after hvc0 and console N is /dev/hvcN (not verified on a dom0 here).
func xenChannelByName(name string) (string, error) {
	devs, _ := filepath.Glob("/sys/bus/xen/devices/console-*")
	for _, d := range devs {
		n := strings.TrimPrefix(filepath.Base(d), "console-")
		got, err := xenstoreRead("device/console/" + n + "/name")
		if err != nil {
			return "", err
		}
		if got == name {
			return "/dev/hvc" + n, nil
		}
	}
	return "", fmt.Errorf("no Xen channel named %s among %d console frontends", name, len(devs))
}

// xenstore wire protocol (xen's docs/misc/xenstore.txt): a header of four little-endian uint32s (type,
// req_id, tx_id, len) and a payload; XS_READ's payload is the path and a NUL, its reply the value.
const (
	xsRead  = 2
	xsError = 16
)

func xenstoreMessage(typ, reqID uint32, payload string) []byte {
	b := make([]byte, 16+len(payload))
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint32(b[4:], reqID)
	binary.LittleEndian.PutUint32(b[8:], 0)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(payload)))
	copy(b[16:], payload)
	return b
}

// parseXenstoreReply is the value of a reply to a request of type `typ`, or the error xenstored sent.
func parseXenstoreReply(typ uint32, b []byte) (string, error) {
	if len(b) < 16 {
		return "", fmt.Errorf("xenstore: short reply (%d bytes)", len(b))
	}
	got, n := binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[12:])
	if uint32(len(b)-16) < n {
		return "", fmt.Errorf("xenstore: reply of %d bytes says %d", len(b)-16, n)
	}
	body := strings.TrimRight(string(b[16:16+n]), "\x00")
	if got == xsError {
		return "", fmt.Errorf("xenstore: %s", body)
	}
	if got != typ {
		return "", fmt.Errorf("xenstore: reply type %d to a request of type %d", got, typ)
	}
	return body, nil
}

// xenstoreRead reads a path relative to this domain's home through the kernel's xenbus device.
func xenstoreRead(path string) (string, error) {
	f, err := os.OpenFile("/dev/xen/xenbus", os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(xenstoreMessage(xsRead, 1, path+"\x00")); err != nil {
		return "", fmt.Errorf("xenstore read %s: %w", path, err)
	}
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if err != nil {
		return "", fmt.Errorf("xenstore read %s: %w", path, err)
	}
	return parseXenstoreReply(xsRead, buf[:n])
}

// xenPoweroffArg runs this binary as the kernel's poweroff helper rather than as PID 1.
const xenPoweroffArg = "xen-poweroff"

// watchXenShutdown turns the toolstack's power-off request (xl shutdown) into SIGTERM for the app, as the
// power button does on QEMU: Linux's Xen driver answers control/shutdown by running poweroff_cmd (normally
// /sbin/poweroff, absent here), so the init names itself, and that helper signals PID 1 with SIGPWR.
func watchXenShutdown() {
	if _, err := os.Stat("/dev/xen/xenbus"); err != nil {
		return // not a Xen guest
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGPWR)
	if err := os.WriteFile("/proc/sys/kernel/poweroff_cmd", []byte("/init "+xenPoweroffArg), 0); err != nil {
		logf("strata-guest-init: xl shutdown will not reach the app: %v", err)
		signal.Stop(ch)
		return
	}
	for range ch {
		signalApp(syscall.SIGTERM)
	}
}

func xenPoweroffHelper() int {
	if err := syscall.Kill(1, syscall.SIGPWR); err != nil {
		fmt.Fprintf(os.Stderr, "strata-guest-init %s: %v\n", xenPoweroffArg, err)
		return 1
	}
	return 0
}
