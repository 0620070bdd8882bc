package main

// Firecracker guests: Firecracker has no virtio-serial, so the log, control and exec channels are vsock
// ports on which this init listens, and the host connects to each through Firecracker's hybrid vsock
// (its unix socket and `CONNECT <port>\n`; docs/vsock.md; host side src/sandbox/microvm/firecracker/vsock.ts).
// Used only when the kernel command line says so (the Firecracker backend adds vsockKernelArg): a QEMU or
// Xen guest never waits for a device it does not have.
//
// A virtio-serial port reads 0 while no host end is connected and holds guest writes for the next one;
// vsockPort reads the same way, and vsockLog holds log lines (up to vsockLogHeld bytes) while no host
// reader is connected, as the file QEMU appends to never refuses a line.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	vsockKernelArg = "strata.channels=vsock"
	vsockLogPort   = 1024 // ports shared with VSOCK_PORTS in vsock.ts
	vsockCtlPort   = 1025
	vsockExecPort  = 1026
	afVsock        = 40         // AF_VSOCK; the syscall package predates it
	vmaddrCidAny   = 0xFFFFFFFF // VMADDR_CID_ANY
	vsockLogHeld   = 1 << 20
)

var errNoHost = errors.New("no host end is connected")

func vsockChannels() bool {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if f == vsockKernelArg {
			return true
		}
	}
	return false
}

// listenVsock listens on a vsock port of this guest; accept returns each host connection.
func listenVsock(port uint32) (accept func() (*os.File, error), err error) {
	fd, err := syscall.Socket(afVsock, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vsock socket: %w", err)
	}
	// struct sockaddr_vm: family u16, reserved u16, port u32, cid u32, flags u8, zero [3]u8.
	var sa [16]byte
	*(*uint16)(unsafe.Pointer(&sa[0])) = afVsock
	*(*uint32)(unsafe.Pointer(&sa[4])) = port
	*(*uint32)(unsafe.Pointer(&sa[8])) = vmaddrCidAny
	if _, _, e := syscall.Syscall(syscall.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("vsock bind port %d: %w", port, e)
	}
	if err := syscall.Listen(fd, 4); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("vsock listen port %d: %w", port, err)
	}
	return func() (*os.File, error) {
		for {
			// syscall.Accept would refuse the peer's address family; accept4 without one.
			nfd, _, e := syscall.Syscall6(syscall.SYS_ACCEPT4, uintptr(fd), 0, 0, syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0, 0)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				return nil, fmt.Errorf("vsock accept port %d: %w", port, e)
			}
			return os.NewFile(nfd, fmt.Sprintf("vsock:%d", port)), nil // non-blocking: Go's poller, deadlines work
		}
	}, nil
}

// vsockPort is a channel the host connects to, one connection at a time, read like a virtio-serial port.
type vsockPort struct {
	accept func() (*os.File, error)
	mu     sync.Mutex
	conn   *os.File
}

// Read waits for a host connection when there is none, and reads from it; its end reads as io.EOF.
func (p *vsockPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c == nil {
		var err error
		if c, err = p.accept(); err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.conn = c
		p.mu.Unlock()
	}
	n, err := c.Read(b)
	if err != nil {
		p.mu.Lock()
		p.conn = nil
		p.mu.Unlock()
		c.Close()
		if n == 0 {
			return 0, io.EOF
		}
	}
	return n, nil
}

// Write goes to the connected host end; with none, the message is dropped (as the caller's session is).
func (p *vsockPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c == nil {
		return 0, errNoHost
	}
	return c.Write(b)
}

func (p *vsockPort) SetWriteDeadline(t time.Time) error {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.SetWriteDeadline(t)
}

// vsockLog is the log channel: lines go to the connected host reader, and are held while there is none
// (before the host's first connection, and between a restore's reset and the new host's).
type vsockLog struct {
	mu      sync.Mutex
	conn    io.WriteCloser
	held    [][]byte
	size    int
	dropped int
}

// serve hands each new host connection the held lines, then the live ones.
func (l *vsockLog) serve(accept func() (*os.File, error)) {
	for {
		c, err := accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "strata-guest-init: log port: %v\n", err)
			return
		}
		l.attach(c)
	}
}

func (l *vsockLog) attach(c io.WriteCloser) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close() // a newer host reader replaces the old one (the daemon restarted)
	}
	l.conn = c
	if l.dropped > 0 {
		note := fmt.Sprintf(`{"t":"log","s":"stderr","l":"strata-guest-init: %d log lines dropped while no host read them"}`+"\n", l.dropped)
		l.held = append([][]byte{[]byte(note)}, l.held...)
		l.dropped = 0
	}
	for len(l.held) > 0 {
		if _, err := c.Write(l.held[0]); err != nil {
			l.conn = nil
			c.Close()
			return
		}
		l.size -= len(l.held[0])
		l.held = l.held[1:]
	}
}

func (l *vsockLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		if _, err := l.conn.Write(b); err == nil {
			return len(b), nil
		}
		l.conn.Close()
		l.conn = nil
	}
	line := append([]byte(nil), b...)
	l.held = append(l.held, line)
	l.size += len(line)
	for l.size > vsockLogHeld && len(l.held) > 1 {
		l.size -= len(l.held[0])
		l.held = l.held[1:]
		l.dropped++
	}
	return len(b), nil
}

// drain hands the host what was written before the VM powers off: it ends the write side of the host's
// connection and waits, up to d, for the host to close its end, which it does once it has read it all.
func (l *vsockLog) drain(d time.Duration) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	f, ok := c.(*os.File)
	if !ok {
		return // no host reader: what is held is lost with the VM
	}
	defer f.Close()
	if raw, err := f.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_WR) })
	}
	_ = f.SetReadDeadline(time.Now().Add(d))
	_, _ = io.Copy(io.Discard, f)
}

// drainVsockLog is poweroff's first step on a Firecracker guest (vsock writes are delivered after the
// guest's write returns, so powering off at once could lose the exit line).
func drainVsockLog() {
	if l, ok := logPort.(*vsockLog); ok {
		l.drain(time.Second)
	}
}

// openVsockPorts listens on the log and control ports (exec: serveExec); the host connects when it reads.
func openVsockPorts() error {
	acceptLog, err := listenVsock(vsockLogPort)
	if err != nil {
		return err
	}
	acceptCtl, err := listenVsock(vsockCtlPort)
	if err != nil {
		return err
	}
	l := &vsockLog{}
	go l.serve(acceptLog)
	logPort = l
	ctlPort = &vsockPort{accept: acceptCtl}
	return nil
}
