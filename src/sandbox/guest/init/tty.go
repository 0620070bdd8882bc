package main

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// makeRaw puts a channel that is a terminal (a Xen PV channel is an hvc tty; a virtio-serial port is
// not) in raw mode, as cfmakeraw(3): no echo of what the host sends, no line editing, no signals from
// its bytes, no CR added to the guest's newlines. A device that is not a terminal is left as it is.
func makeRaw(f *os.File) error {
	var t syscall.Termios
	if err := termios(f, syscall.TCGETS, &t); err != nil {
		if errors.Is(err, syscall.ENOTTY) {
			return nil
		}
		return err
	}
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB
	t.Cflag |= syscall.CS8
	t.Cc[syscall.VMIN] = 1
	t.Cc[syscall.VTIME] = 0
	return termios(f, syscall.TCSETS, &t)
}

func termios(f *os.File, req uintptr, t *syscall.Termios) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := conn.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(t)))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
