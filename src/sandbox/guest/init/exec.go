package main

// The exec channel (`strata exec` into a VM-class instance; src/sandbox/guest/exec-channel.ts is the host
// end). There is no vsock here, so as Kata's agent once did over virtio-serial, commands come on a port of
// their own, strata.exec (a Xen PV channel of that name on Xen), one session per host connection:
//
//   host -> guest  {"t":"exec","id":s,"argv":[...]}   run argv as the app runs (its user, working dir, env,
//                                                     root or container namespaces, cgroup)
//                  {"t":"kill","id":s}                the caller gave up: SIGKILL to the command's process group
//   guest -> host  {"t":"started","id":s}
//                  {"t":"out","id":s,"s":"stdout"|"stderr","d":base64}
//                  {"t":"exit","id":s,"code":n[,"error":e]}   (error: it did not start; code 126 or 127)
//
// Every message carries the session id: what an aborted session wrote reaches the next host connection
// (virtio-serial holds guest writes while no host end is connected) and is dropped there by its id.
// Kata's agent over one yamux session could not survive the host dropping the port (kata-containers/agent
// #213); here a host end that goes away (a read of 0: virtio_console's "nothing connected") ends the
// session's command, and the next connection starts afresh.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	execPortName = "strata.exec"
	// Output travels in chunks of at most this many bytes, so that one message (base64 and its envelope)
	// stays below virtio_console's 32 KiB write, and so is never split by it.
	execChunk = 16 << 10
	// After the command exits, how long its output may still come from children that kept its pipes.
	execDrain = time.Second
)

// execTarget is how a command enters the workload: the app's root (microvm) or the container's
// namespaces (kata), and the app's user, working directory and environment.
type execTarget struct {
	root       string // chroot into this (newRoot), or "" when the mount namespace joined has the root
	nsPid      int    // join these namespaces of that process (the container's init)
	namespaces []string
	env        []string
	cwd        string
	uid, gid   uint32
	groups     []uint32
	noNewPrivs bool
}

var (
	// execMu is held across a command's fork and its registration, so reapOrphans (which asks
	// execOwns) never reaps a command that this file waits for.
	execMu   sync.Mutex
	execPids = map[int]bool{}
)

func execOwns(pid int) bool {
	execMu.Lock()
	defer execMu.Unlock()
	return execPids[pid]
}

type execSession struct {
	id     string
	mu     sync.Mutex
	pid    int
	killed bool
	done   chan struct{}
}

// kill ends the command's process group (Setsid made the command its leader); before it has started,
// it marks the session so the command is killed as soon as it exists.
func (s *execSession) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killed = true
	if s.pid > 0 {
		_ = syscall.Kill(-s.pid, syscall.SIGKILL)
	}
}

func (s *execSession) started(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pid = pid
	if s.killed {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// execPort is the exec channel: a virtio-serial port or Xen channel (*os.File), or a vsockPort.
type execPort interface {
	io.ReadWriter
	SetWriteDeadline(time.Time) error
}

type execChannel struct {
	port    execPort
	target  func() (*execTarget, error)
	writeMu sync.Mutex
	mu      sync.Mutex
	current *execSession
	hostUp  bool
}

// serveExec serves the exec port for the VM's whole life; target says, per command, how it enters the
// workload (an error: not yet, e.g. before the app has started).
func serveExec(target func() (*execTarget, error)) {
	if vsockChannels() {
		accept, err := listenVsock(vsockExecPort)
		if err != nil {
			logf("strata-guest-init: strata exec cannot reach this guest: %v", err)
			return
		}
		(&execChannel{port: &vsockPort{accept: accept}, target: target}).serve()
		return
	}
	path, err := waitPort(execPortName)
	if err != nil {
		logf("strata-guest-init: strata exec cannot reach this guest: %v", err)
		return
	}
	port, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		logf("strata-guest-init: opening the exec port: %v", err)
		return
	}
	if err := makeRaw(port); err != nil {
		logf("strata-guest-init: the exec channel %s: %v", path, err)
		return
	}
	c := &execChannel{port: port, target: target}
	c.serve()
}

// waitPort finds a named port, which may appear a while after the others: under TCG on a loaded host,
// virtio-serial-pci's third port was seen later than 2 s. It waits in the background, so up to a minute.
func waitPort(name string) (string, error) {
	var err error
	for i := 0; i < 6000; i++ {
		var p string
		if p, err = findPort(name); err == nil {
			return p, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", err
}

func (c *execChannel) serve() {
	r := bufio.NewReaderSize(c.port, 64<<10)
	var line []byte
	for {
		chunk, err := r.ReadBytes('\n')
		line = append(line, chunk...)
		if err == nil {
			c.hostUp = true
			c.handle(line)
			line = line[:0]
			continue
		}
		if err != io.EOF {
			logf("strata-guest-init: exec port: %v", err)
			return
		}
		// A read of 0: no host end is connected (before the first session, between sessions, or the host
		// went away in the middle of one). Whatever it was sending is void, and so is its command.
		line = line[:0]
		if c.hostUp {
			c.hostUp = false
			c.hostGone()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *execChannel) handle(line []byte) {
	var req struct {
		T    string   `json:"t"`
		ID   string   `json:"id"`
		Argv []string `json:"argv"`
	}
	if err := json.Unmarshal(line, &req); err != nil || req.ID == "" {
		logf("strata-guest-init: bad exec message: %q", line)
		return
	}
	switch req.T {
	case "exec":
		c.start(req.ID, req.Argv)
	case "kill":
		c.mu.Lock()
		s := c.current
		c.mu.Unlock()
		if s != nil && s.id == req.ID {
			s.kill()
		}
	}
}

// hostGone ends the running session's command and unblocks its writes (virtio_console holds a write
// while no host is connected), so the session finishes and the next one can start.
func (c *execChannel) hostGone() {
	c.mu.Lock()
	s := c.current
	c.mu.Unlock()
	if s == nil {
		return
	}
	select {
	case <-s.done:
	default:
		s.kill()
		if err := c.port.SetWriteDeadline(time.Now()); err != nil && !errors.Is(err, os.ErrNoDeadline) {
			logf("strata-guest-init: exec port: %v", err)
		}
	}
}

// start runs one session at a time: a new request while one runs means its host is gone without a word
// (a Xen channel has no "disconnected"), so that one's command is ended first.
func (c *execChannel) start(id string, argv []string) {
	c.mu.Lock()
	prev := c.current
	c.mu.Unlock()
	if prev != nil {
		prev.kill()
		<-prev.done
	}
	if err := c.port.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		logf("strata-guest-init: exec port: %v", err)
	}
	s := &execSession{id: id, done: make(chan struct{})}
	c.mu.Lock()
	c.current = s
	c.mu.Unlock()
	go c.run(s, argv)
}

func (c *execChannel) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err = c.port.Write(append(b, '\n'))
	return err
}

func (c *execChannel) run(s *execSession, argv []string) {
	defer close(s.done)
	cmd, outR, errR, err := c.startCommand(argv)
	if err != nil {
		code := 126
		var nf notFound
		if errors.As(err, &nf) || errors.Is(err, syscall.ENOENT) {
			code = 127 // as a shell says it
		}
		_ = c.send(map[string]any{"t": "exit", "id": s.id, "code": code, "error": err.Error()})
		return
	}
	pid := cmd.Process.Pid
	s.started(pid)
	_ = c.send(map[string]string{"t": "started", "id": s.id})
	var pipes sync.WaitGroup
	pipes.Add(2)
	go c.forward(s.id, "stdout", outR, &pipes)
	go c.forward(s.id, "stderr", errR, &pipes)
	state, _ := cmd.Process.Wait()
	s.mu.Lock()
	s.pid = 0 // reaped: its pid may be another process's soon
	s.mu.Unlock()
	execMu.Lock()
	delete(execPids, pid)
	execMu.Unlock()
	// Children the command left may hold its pipes: their output still comes for a moment, then the
	// pipes close under them (as the command's own session ends).
	drained := make(chan struct{})
	go func() { pipes.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execDrain):
		outR.Close()
		errR.Close()
		<-drained
	}
	code := -1
	if state != nil {
		ws := state.Sys().(syscall.WaitStatus)
		code = ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	_ = c.send(map[string]any{"t": "exit", "id": s.id, "code": code})
}

func (c *execChannel) forward(id, stream string, r *os.File, done *sync.WaitGroup) {
	defer done.Done()
	defer r.Close()
	buf := make([]byte, execChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			// A failed send (the host is gone) drops the output but keeps reading, so the command never
			// blocks on a full pipe before it is killed.
			_ = c.send(map[string]string{"t": "out", "id": id, "s": stream, "d": base64.StdEncoding.EncodeToString(buf[:n])})
		}
		if err != nil {
			return
		}
	}
}

// notFound: the command is on no directory of the PATH.
type notFound struct{ error }

// startCommand forks the command into the workload. Joining a mount namespace needs a thread that
// shares no file-system state with the others (setns(2)), so that is done on a thread of its own, locked
// and never unlocked: the runtime ends it with its goroutine rather than reuse a thread in the container's
// namespaces. The fork happens on that thread, so the command is born inside them.
func (c *execChannel) startCommand(argv []string) (*exec.Cmd, *os.File, *os.File, error) {
	if len(argv) == 0 {
		return nil, nil, nil, fmt.Errorf("no command given")
	}
	t, err := c.target()
	if err != nil {
		return nil, nil, nil, err
	}
	// Opened here, in the guest's own mount namespace: the container's has its own /sys.
	cg, err := syscall.Open(appCgroup, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the app's cgroup: %v", err)
	}
	defer syscall.Close(cg)
	type started struct {
		cmd        *exec.Cmd
		outR, errR *os.File
		err        error
	}
	res := make(chan started, 1)
	go func() {
		if len(t.namespaces) > 0 {
			runtime.LockOSThread()
			if err := enterNamespaces(t); err != nil {
				res <- started{err: err}
				return
			}
		}
		cmd, outR, errR, err := forkCommand(t, argv, cg)
		res <- started{cmd, outR, errR, err}
	}()
	r := <-res
	return r.cmd, r.outR, r.errR, r.err
}

// setns(2) on x86_64, the guest's architecture (the syscall package names no SYS_SETNS).
const sysSetns = 308

var nsFiles = map[string]string{"mount": "mnt", "pid": "pid", "uts": "uts", "ipc": "ipc"}

// enterNamespaces moves the calling (locked) thread into the workload's namespaces: the pid namespace
// applies to the children it forks, the mount namespace brings the container's root as the thread's root.
func enterNamespaces(t *execTarget) error {
	if err := syscall.Unshare(syscall.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for _, ns := range t.namespaces { // opened first: /proc/<pid> is read in the guest's own mount namespace
		fd, err := syscall.Open(fmt.Sprintf("/proc/%d/ns/%s", t.nsPid, nsFiles[ns]), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("the container's %s namespace: %w", ns, err)
		}
		fds = append(fds, fd)
	}
	for i, fd := range fds {
		if _, _, e := syscall.RawSyscall(sysSetns, uintptr(fd), 0, 0); e != 0 {
			return fmt.Errorf("joining the container's %s namespace: %w", t.namespaces[i], e)
		}
	}
	if t.noNewPrivs { // inherited by the command, as the container's process has it
		const prSetNoNewPrivs = 38
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	return nil
}

func forkCommand(t *execTarget, argv []string, cg int) (*exec.Cmd, *os.File, *os.File, error) {
	var path string
	var err error
	if t.root == newRoot {
		path, err = lookPath(newRoot, "image", argv[0], t.env)
	} else {
		path, err = lookPath("/", "container", argv[0], t.env)
	}
	if err != nil {
		return nil, nil, nil, notFound{err}
	}
	groups := t.groups
	if groups == nil {
		groups = []uint32{}
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: t.env, Dir: t.cwd}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:      t.root,
		Setsid:      true,
		Credential:  &syscall.Credential{Uid: t.uid, Gid: t.gid, Groups: groups},
		UseCgroupFD: true,
		CgroupFD:    cg,
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	execMu.Lock()
	err = cmd.Start()
	if err == nil {
		execPids[cmd.Process.Pid] = true
	}
	execMu.Unlock()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, nil, nil, fmt.Errorf("starting %s: %w", filepath.Base(argv[0]), err)
	}
	return cmd, outR, errR, nil
}

// appExecTarget: a microvm's command runs as the app does (runApp): chrooted into its root, as its
// user, in its working directory, with its environment, in its cgroup.
func appExecTarget(cfg *RunConfig) func() (*execTarget, error) {
	return func() (*execTarget, error) {
		appMu.Lock()
		started := appProc != nil
		appMu.Unlock()
		if !started {
			return nil, fmt.Errorf("the app has not started yet")
		}
		return &execTarget{root: newRoot, env: cfg.Env, cwd: cfg.Cwd, uid: cfg.UID, gid: cfg.GID}, nil
	}
}

// containerExecTarget: as Kata's ExecProcess, the command joins the container's namespaces (those of
// its init, the container's process) and cgroup, with the spec's user, working directory and env.
func containerExecTarget(run *AgentRun) func() (*execTarget, error) {
	return func() (*execTarget, error) {
		appMu.Lock()
		proc := appProc
		appMu.Unlock()
		if proc == nil {
			return nil, fmt.Errorf("the container has not started yet")
		}
		var namespaces []string
		for _, ns := range run.Spec.Linux.Namespaces {
			if _, ok := nsFiles[ns.Type]; ok {
				namespaces = append(namespaces, ns.Type)
			}
		}
		p := run.Spec.Process
		return &execTarget{
			nsPid: proc.Pid, namespaces: namespaces, env: p.Env, cwd: p.Cwd,
			uid: p.User.UID, gid: p.User.GID, groups: p.User.AdditionalGids, noNewPrivs: p.NoNewPrivileges,
		}, nil
	}
}
