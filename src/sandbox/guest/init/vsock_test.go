package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// socketPair is a connected pair of stream sockets: the guest end (as accept returns it) and the host end.
func socketPair(t *testing.T) (guest, host *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "guest"), os.NewFile(uintptr(fds[1]), "host")
}

func TestVsockPortReadsLikeAVirtioSerialPort(t *testing.T) {
	guest, host := socketPair(t)
	accepted := 0
	p := &vsockPort{accept: func() (*os.File, error) {
		accepted++
		if accepted > 1 {
			return nil, errors.New("no second host connection in this test")
		}
		return guest, nil
	}}
	if _, err := p.Write([]byte("x\n")); !errors.Is(err, errNoHost) {
		t.Fatalf("a write with no host connected: %v, want errNoHost", err)
	}
	// Read accepts the host connection and reads what it sent; writes then answer on it.
	if _, err := host.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := p.Read(buf); err != nil || string(buf[:n]) != "hello\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := p.Write([]byte("ack\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(host).ReadString('\n'); err != nil || line != "ack\n" {
		t.Fatalf("host read %q, %v", line, err)
	}
	// The host end's close reads as io.EOF (virtio_console's "nothing connected"); writes have nowhere to go.
	host.Close()
	if n, err := p.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the host end closed: %d, %v; want io.EOF", n, err)
	}
	if _, err := p.Write([]byte("late\n")); !errors.Is(err, errNoHost) {
		t.Fatalf("a write after the host end went: %v, want errNoHost", err)
	}
	// The next read waits for a new host connection.
	if _, err := p.Read(buf); err == nil || accepted != 2 {
		t.Fatalf("the next read did not accept anew (accepted %d, %v)", accepted, err)
	}
}

func TestVsockLogHoldsLinesUntilAHostReads(t *testing.T) {
	l := &vsockLog{}
	l.Write([]byte("one\n"))
	l.Write([]byte("two\n"))
	g, h := socketPair(t)
	l.attach(g)
	l.Write([]byte("three\n"))
	l.mu.Lock()
	l.conn.Close()
	l.mu.Unlock()
	all, _ := io.ReadAll(h)
	if string(all) != "one\ntwo\nthree\n" {
		t.Fatalf("host read %q", all)
	}
	// The reader is gone: lines are held again, the oldest dropped past the bound, and the next reader is told.
	big := strings.Repeat("x", vsockLogHeld/2) + "\n"
	l.Write([]byte(big))
	l.Write([]byte(big))
	l.Write([]byte("last\n"))
	g2, h2 := socketPair(t)
	read := make(chan []byte)
	go func() { b, _ := io.ReadAll(h2); read <- b }() // the held lines exceed a socket's buffer
	l.attach(g2)
	l.mu.Lock()
	l.conn.Close()
	l.mu.Unlock()
	all = <-read
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "1 log lines dropped") || lines[2] != "last" {
		t.Fatalf("after a drop the host read %d lines: %.120q", len(lines), all)
	}
}

func TestListenVsock(t *testing.T) {
	accept, err := listenVsock(vsockCtlPort)
	if errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Skip("no vsock in this kernel")
	}
	if err != nil || accept == nil {
		t.Fatalf("listening on a vsock port: %v", err)
	}
}

func TestVsockLogDrainsBeforePoweroff(t *testing.T) {
	l := &vsockLog{}
	g, h := socketPair(t)
	l.attach(g)
	l.Write([]byte("{\"t\":\"exit\",\"code\":0}\n"))
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(h) // the host reads to the guest's end of writing, then closes
		h.Close()
		got <- string(b)
	}()
	start := time.Now()
	l.drain(5 * time.Second)
	if s := <-got; s != "{\"t\":\"exit\",\"code\":0}\n" {
		t.Fatalf("host read %q", s)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("drain waited %v though the host closed at once", time.Since(start))
	}
}
