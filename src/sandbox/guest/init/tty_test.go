package main

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPty returns a pseudo-terminal pair, as a Xen PV channel (an hvc tty) looks to the guest.
func openPty(t *testing.T) (master, slave *os.File) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestMakeRawKeepsMessagesIntact(t *testing.T) {
	master, slave := openPty(t)
	if err := makeRaw(slave); err != nil {
		t.Fatal(err)
	}
	// Host -> guest: a line arrives as sent and is not echoed back to the host.
	msg := []byte(`{"t":"exec","id":"a1","argv":["sh","-c","echo \u0003"]}` + "\n")
	if _, err := master.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 256)
	for len(got) < len(msg) {
		n, err := slave.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("guest read %q, want %q", got, msg)
	}
	// Guest -> host: no CR added to the newline, and nothing echoed before it.
	if _, err := slave.Write([]byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	if err := master.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := master.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "ok\n" {
		t.Fatalf("host read %q, want %q", buf[:n], "ok\n")
	}
}

func TestMakeRawLeavesOtherDevicesAlone(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := makeRaw(f); err != nil {
		t.Fatalf("a device that is not a terminal: %v", err)
	}
}
