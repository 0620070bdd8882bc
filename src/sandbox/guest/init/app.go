package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const appCgroup = "/sys/fs/cgroup/app"

var (
	appMu   sync.Mutex
	appProc *os.Process
)

func signalApp(sig syscall.Signal) {
	appMu.Lock()
	defer appMu.Unlock()
	if appProc != nil {
		_ = appProc.Signal(sig)
	}
}

// appCgroupFD makes the app's cgroup v2 group, capped at the instance's memory (the guest's RAM also
// holds the kernel), so an app past its memory is OOM-killed and reported as such.
func appCgroupFD(memoryMb int) (int, error) {
	if err := mount("cgroup2", "/sys/fs/cgroup", "cgroup2", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return -1, err
	}
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory +pids"), 0); err != nil {
		return -1, err
	}
	if err := os.MkdirAll(appCgroup, 0o755); err != nil {
		return -1, err
	}
	if memoryMb > 0 {
		if err := os.WriteFile(appCgroup+"/memory.max", []byte(strconv.Itoa(memoryMb<<20)), 0); err != nil {
			return -1, err
		}
		_ = os.WriteFile(appCgroup+"/memory.swap.max", []byte("0"), 0) // no swap in the guest anyway
	}
	return syscall.Open(appCgroup, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
}

// lookPath finds a program on the process's PATH (from env) as seen under root; `whose` names that PATH
// in the error ("image": the app's, under newRoot; "container": the agent's container, under /).
func lookPath(root, whose, name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[5:]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on the %s's PATH (%s)", name, whose, path)
}

func forward(r io.Reader, stream string, done *sync.WaitGroup) {
	defer done.Done()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		send(map[string]string{"t": "log", "s": stream, "l": s.Text()})
	}
}

func runApp(cfg *RunConfig) error {
	cg, err := appCgroupFD(cfg.MemoryMb)
	if err != nil {
		return fmt.Errorf("making the app's cgroup: %w", err)
	}
	path, err := lookPath(newRoot, "image", cfg.Args[0], cfg.Env)
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{Path: path, Args: cfg.Args, Env: cfg.Env, Dir: cfg.Cwd}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:      newRoot,
		Setsid:      true,
		Credential:  &syscall.Credential{Uid: cfg.UID, Gid: cfg.GID, Groups: []uint32{}},
		UseCgroupFD: true,
		CgroupFD:    cg,
	}
	return supervise(cmd, fmt.Sprint(cfg.Args), false)
}

// supervise runs the workload (the app, or the agent's container init) to its end: its stdout and stderr
// go to the host as log lines, its orphans are reaped, and its exit is reported once its output is in.
// `what` names it in a start failure; with `pidsLimited` a failed exit after refused forks is
// "pids-limit", as the OCI driver reports it.
func supervise(cmd *exec.Cmd, what string, pidsLimited bool) error {
	// Plain pipes, not cmd.StdoutPipe: the app's leftover children may hold them after it exits.
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	appMu.Lock()
	err = cmd.Start()
	if err == nil {
		appProc = cmd.Process
	}
	appMu.Unlock()
	outW.Close()
	errW.Close()
	if err != nil {
		return fmt.Errorf("starting %s: %w", what, err)
	}
	send(map[string]string{"t": "started"})
	var pipes sync.WaitGroup
	pipes.Add(2)
	go forward(outR, "stdout", &pipes)
	go forward(errR, "stderr", &pipes)
	go reapOrphans(cmd.Process.Pid)
	state, _ := cmd.Process.Wait()
	code, reason := exitOf(state)
	if pidsLimited && reason != "oom-killed" && code != 0 && cgroupEvents("pids.events", "max") > 0 {
		reason = "pids-limit" // forks were refused, and then the workload failed
	}
	// As when a container's init ends: what the app left behind ends with it, then its last lines are sent.
	_ = os.WriteFile(appCgroup+"/cgroup.kill", []byte("1"), 0)
	pipes.Wait()
	sendExit(code, reason, "")
	return nil
}

func exitOf(state *os.ProcessState) (int, string) {
	if state == nil {
		return -1, "exited"
	}
	ws := state.Sys().(syscall.WaitStatus)
	if cgroupEvents("memory.events", "oom_kill") > 0 {
		return 128 + int(syscall.SIGKILL), "oom-killed"
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), "killed"
	}
	return ws.ExitStatus(), "exited"
}

// cgroupEvents reads one counter of the app's cgroup (memory.events oom_kill: OOM kills; pids.events max:
// forks refused at pids.max).
func cgroupEvents(file, key string) int {
	b, _ := os.ReadFile(appCgroup + "/" + file)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// reapOrphans: as PID 1, init reaps every orphan the app leaves; the app itself, and the commands of
// strata exec (exec.go), are left to their own Wait.
func reapOrphans(appPid int) {
	for {
		var ws syscall.WaitStatus
		// P_ALL minus the app: wait4 on any child would race cmd.Wait, so peek with WNOWAIT first.
		var info [128]byte
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, 0 /* P_ALL */, 0, uintptr(unsafePointer(info[:])), syscall.WEXITED|0x01000000 /* WNOWAIT */, 0, 0)
		if e != 0 {
			return
		}
		pid := int(*(*int32)(unsafePointer(info[16:20])))
		if pid == appPid || execOwns(pid) {
			// Let cmd.Wait reap it; then keep reaping the others it leaves.
			waitGone(appPid)
			continue
		}
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}
