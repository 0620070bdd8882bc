package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Two virtio-serial ports (names shared with src/sandbox/guest/protocol.ts):
//
//	strata.log  guest -> host: {"t":"log","s":"stdout"|"stderr","l":line}, {"t":"started"},
//	            {"t":"exit","code":n,"reason":r,"error":e}; the host keeps it in a file, so it outlives the daemon.
//	strata.ctl  host -> guest: {"t":"signal","sig":n}, {"t":"restored","unixNano":n,"seed":b64,"hostname":h,"net":{...}};
//	            guest -> host: {"t":"ack","of":"restored"}.
const (
	logPortName = "strata.log"
	ctlPortName = "strata.ctl"
)

var (
	logPort io.Writer     // a virtio-serial port or Xen channel (*os.File), or the vsock log (vsock.go)
	ctlPort io.ReadWriter // the same, or a vsockPort
	logMu   sync.Mutex
)

func portByName(name string) (string, error) {
	dirs, _ := filepath.Glob("/sys/class/virtio-ports/*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "name"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			return "/dev/" + filepath.Base(d), nil
		}
	}
	return "", fmt.Errorf("no virtio-serial port named %s (is virtio_console loaded?)", name)
}

func openPorts() error {
	if vsockChannels() {
		return openVsockPorts()
	}
	var err error
	// The ports appear once virtio_console has probed; give it a moment.
	for i := 0; i < 200; i++ {
		var lp, cp string
		if lp, err = findPort(logPortName); err == nil {
			if cp, err = findPort(ctlPortName); err == nil {
				if logPort, err = os.OpenFile(lp, os.O_WRONLY, 0); err != nil {
					return err
				}
				ctlPort, err = os.OpenFile(cp, os.O_RDWR, 0)
				return err
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

func send(v any) {
	b, _ := json.Marshal(v)
	logMu.Lock()
	defer logMu.Unlock()
	if logPort != nil {
		_, _ = logPort.Write(append(b, '\n'))
	}
}

func logf(format string, args ...any) {
	send(map[string]string{"t": "log", "s": "stderr", "l": fmt.Sprintf(format, args...)})
}

func sendExit(code int, reason, errText string) {
	m := map[string]any{"t": "exit", "code": code, "reason": reason}
	if errText != "" {
		m["error"] = errText
	}
	send(m)
}

type control struct {
	T        string    `json:"t"`
	Sig      int       `json:"sig"`
	UnixNano int64     `json:"unixNano"`
	Seed     string    `json:"seed"`
	Hostname string    `json:"hostname"`
	Net      NetConfig `json:"net"`
}

// serveControl reads host messages for the VM's whole life. virtio_console answers a read with 0 (EOF)
// while no host end is connected (the host connects only to send, and a restored guest's host end is a
// new socket), so EOF means "wait and read again", not the end of the channel.
func serveControl() {
	r := bufio.NewReader(ctlPort)
	var line []byte
	for {
		chunk, err := r.ReadBytes('\n')
		line = append(line, chunk...)
		if err == nil {
			handleControl(line)
			line = line[:0]
			continue
		}
		if err != io.EOF {
			logf("strata-guest-init: control port: %v", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func handleControl(line []byte) {
	var c control
	if err := json.Unmarshal(line, &c); err != nil {
		logf("strata-guest-init: bad control message: %v", err)
		return
	}
	switch c.T {
	case "signal":
		signalApp(syscall.Signal(c.Sig))
	case "restored":
		if err := restored(c); err != nil {
			logf("strata-guest-init: after restore: %v", err)
		}
		b, _ := json.Marshal(map[string]string{"t": "ack", "of": "restored"})
		_, _ = ctlPort.Write(append(b, '\n'))
	}
}

// restored runs after a snapshot restore, before the app gets the host's go-ahead: the clock jumps to
// the host's time, the kernel's random pool takes fresh host entropy and reseeds (siblings restored from
// one snapshot must not share random state), eth0 takes this instance's MAC and address, and the guest
// its hostname (in agent mode: the container's); a function's Runtime API relay re-issues its requests on
// new connections.
func restored(c control) error {
	tv := syscall.NsecToTimeval(c.UnixNano)
	if err := syscall.Settimeofday(&tv); err != nil {
		return fmt.Errorf("setting the clock: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(c.Seed)
	if err != nil || len(seed) < 32 {
		return fmt.Errorf("the restore message carries no 32-byte seed")
	}
	if err := addEntropy(seed); err != nil {
		return err
	}
	if err := setupNetwork(c.Net); err != nil {
		return err
	}
	if relay != nil {
		relay.reset() // the runtime's pending request goes out again, from this guest's address
	}
	return identity(c.Hostname, c.Net.Address)
}

// identity renames the guest after a restore: setIdentity for the app mode; the agent mode names its
// container instead (agent_restore.go).
var identity = setIdentity

// addEntropy credits the seed to the pool (RNDADDENTROPY) and forces a reseed (RNDRESEEDCRNG).
func addEntropy(seed []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	const rndAddEntropy, rndReseedCrng = 0x40085203, 0x5207
	buf := make([]byte, 8+len(seed))
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(seed) * 8)
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(seed))
	copy(buf[8:], seed)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return fmt.Errorf("RNDADDENTROPY: %w", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), rndReseedCrng, 0); e != 0 {
		return fmt.Errorf("RNDRESEEDCRNG: %w", e)
	}
	return nil
}
