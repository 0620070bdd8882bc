package main

// Agent mode (the kata driver, src/sandbox/kata): as Kata Containers' agent, the init does not run the
// image as the guest's own workload; it receives a container (an OCI runtime spec plus the storage that
// holds its rootfs: the image as a read-only virtio block device) and runs the container's process in
// namespaces of its own inside the guest (mount, pid, uts, ipc), its rootfs moved over / and chrooted into, under the
// spec's user and memory cgroup. The host selects the mode on the kernel command line (strata.agent=oci)
// and writes an AgentRun, not a RunConfig, to the run disk.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	agentKernelArg   = "strata.agent=oci"
	containerInitArg = "strata-container-init"
	containersDir    = "/run/kata/containers"
)

// AgentRun is what src/sandbox/kata/agent-run.ts writes: Kata's CreateContainerRequest in small.
type AgentRun struct {
	ContainerID string    `json:"containerId"`
	Storages    []Storage `json:"storages"`
	Spec        OCISpec   `json:"spec"`
	Net         NetConfig `json:"net"`
}

// Storage is Kata's agent Storage: a device the agent mounts before the container is made.
type Storage struct {
	Driver     string   `json:"driver"`
	Source     string   `json:"source"`
	Fstype     string   `json:"fstype"`
	Options    []string `json:"options"`
	MountPoint string   `json:"mountPoint"`
}

// OCISpec holds the fields of the OCI runtime spec (config.json) the agent acts on.
type OCISpec struct {
	Process struct {
		Args []string `json:"args"`
		Env  []string `json:"env"`
		Cwd  string   `json:"cwd"`
		User struct {
			UID            uint32   `json:"uid"`
			GID            uint32   `json:"gid"`
			AdditionalGids []uint32 `json:"additionalGids"`
		} `json:"user"`
		NoNewPrivileges bool `json:"noNewPrivileges"`
	} `json:"process"`
	Root struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	} `json:"root"`
	Hostname string `json:"hostname"`
	Mounts   []struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options"`
	} `json:"mounts"`
	Linux struct {
		Namespaces []struct {
			Type string `json:"type"`
		} `json:"namespaces"`
		Resources struct {
			Memory *struct {
				Limit int64 `json:"limit"`
			} `json:"memory"`
			Pids *struct {
				Limit int64 `json:"limit"`
			} `json:"pids"`
		} `json:"resources"`
	} `json:"linux"`
}

func agentMode() bool {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if f == agentKernelArg {
			return true
		}
	}
	return false
}

func readDiskJSON(dev string, v any) error {
	raw, err := os.ReadFile(dev)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dev, err)
	}
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	return json.Unmarshal(raw, v)
}

// runAgent: mount the storages, build the container's root, bring up the network, run the container.
func runAgent() error {
	var run AgentRun
	if err := readDiskJSON("/dev/vdb", &run); err != nil {
		return fmt.Errorf("the container request: %w", err)
	}
	if len(run.Spec.Process.Args) == 0 || run.ContainerID == "" {
		return fmt.Errorf("the container request names no container or no process")
	}
	for _, s := range run.Storages {
		if s.Driver != "blk" {
			return fmt.Errorf("storage driver %q is not supported (blk only)", s.Driver)
		}
		flags, data := mountFlags(s.Options)
		if err := mount(s.Source, s.MountPoint, s.Fstype, flags, data); err != nil {
			return err
		}
	}
	if err := containerRoot(&run); err != nil {
		return err
	}
	if err := setupNetwork(run.Net); err != nil {
		return err
	}
	identity = func(hostname, address string) error { return containerIdentity(&run, hostname, address) }
	go serveControl()
	go serveExec(containerExecTarget(&run))
	return runContainer(&run)
}

// containerRoot: the spec's root (the rootfs storage, read-only) under a tmpfs upper, so the agent can
// write /etc/hosts and make mount points; the container sees it read-only when the spec says so.
func containerRoot(run *AgentRun) error {
	dir := filepath.Join(containersDir, run.ContainerID)
	if err := mount("rw", filepath.Join(dir, "rw"), "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	for _, d := range []string{"rw/upper", "rw/work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	root := filepath.Join(dir, "rootfs")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/rw/upper,workdir=%s/rw/work", run.Spec.Root.Path, dir, dir)
	if err := mount("overlay", root, "overlay", 0, opts); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return err
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n", run.Net.Address, run.Spec.Hostname)
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	run.Spec.Root.Path = root
	b, err := json.Marshal(run.Spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

var namespaceFlags = map[string]uintptr{
	"mount": syscall.CLONE_NEWNS, "pid": syscall.CLONE_NEWPID, "uts": syscall.CLONE_NEWUTS, "ipc": syscall.CLONE_NEWIPC,
}

// runContainer starts the container's init (this binary again, in new namespaces and the container's
// cgroup) and supervises it as runApp does the microvm workload (supervise, app.go).
func runContainer(run *AgentRun) error {
	var memMb int
	if m := run.Spec.Linux.Resources.Memory; m != nil && m.Limit > 0 {
		memMb = int(m.Limit >> 20)
	}
	cg, err := appCgroupFD(memMb)
	if err != nil {
		return fmt.Errorf("making the container's cgroup: %w", err)
	}
	if p := run.Spec.Linux.Resources.Pids; p != nil && p.Limit > 0 {
		if err := os.WriteFile(appCgroup+"/pids.max", []byte(strconv.FormatInt(p.Limit, 10)), 0); err != nil {
			return fmt.Errorf("the container's pids limit: %w", err)
		}
	}
	var clone uintptr
	for _, ns := range run.Spec.Linux.Namespaces {
		f, ok := namespaceFlags[ns.Type]
		if !ok && ns.Type != "network" { // the guest's network is the container's, as in Kata
			return fmt.Errorf("namespace %q is not supported", ns.Type)
		}
		clone |= f
	}
	cmd := &exec.Cmd{Path: "/init", Args: []string{"/init", containerInitArg, filepath.Join(containersDir, run.ContainerID, "config.json")}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: clone, Setsid: true, UseCgroupFD: true, CgroupFD: cg}
	return supervise(cmd, "the container", true)
}

// containerInit runs as PID 1 of the container's namespaces: mounts, root, hostname, user, exec.
// It never returns; a failure is printed on the container's stderr and ends it with 127.
func containerInit(specPath string) {
	err := enterContainer(specPath)
	fmt.Fprintf(os.Stderr, "strata container init: %v\n", err)
	os.Exit(127)
}

func enterContainer(specPath string) error {
	var spec OCISpec
	b, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	root := spec.Root.Path
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := syscall.Mount(root, root, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the root: %w", err)
	}
	for _, m := range spec.Mounts {
		flags, data := mountFlags(m.Options)
		if err := mountInto(root, m.Source, m.Destination, m.Type, flags, data); err != nil {
			return err
		}
	}
	// The guest's root is the initramfs, which pivot_root(2) refuses (EINVAL): as runc does with
	// no_pivot_root (for a ramdisk root), the container's root is moved over / and chrooted into. Only
	// the container's mount namespace sees it; the guest kernel is the sandbox's boundary.
	if err := syscall.Chdir(root); err != nil {
		return err
	}
	if err := syscall.Mount(root, "/", "", syscall.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the root: %w", err)
	}
	if err := syscall.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return err
	}
	if spec.Root.Readonly {
		if err := syscall.Mount("", "/", "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making the root read-only: %w", err)
		}
	}
	if spec.Hostname != "" {
		if err := syscall.Sethostname([]byte(spec.Hostname)); err != nil {
			return err
		}
	}
	path, err := lookPath("/", "container", spec.Process.Args[0], spec.Process.Env)
	if err != nil {
		return err
	}
	groups := make([]int, len(spec.Process.User.AdditionalGids))
	for i, g := range spec.Process.User.AdditionalGids {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(int(spec.Process.User.GID)); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(int(spec.Process.User.UID)); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if spec.Process.NoNewPrivileges {
		const prSetNoNewPrivs = 38
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	if err := syscall.Chdir(spec.Process.Cwd); err != nil {
		return fmt.Errorf("the working directory %s: %w", spec.Process.Cwd, err)
	}
	return fmt.Errorf("exec %s: %w", path, syscall.Exec(path, spec.Process.Args, spec.Process.Env))
}

// mountInto mounts under root; a bind mount of a file (/dev/null) gets an empty file as its mount point.
func mountInto(root, source, dest, fstype string, flags uintptr, data string) error {
	target := filepath.Join(root, dest)
	if fstype != "bind" {
		return mount(source, target, fstype, flags, data)
	}
	flags |= syscall.MS_BIND
	if st, err := os.Stat(source); err == nil && !st.IsDir() {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			f.Close()
		} else {
			return err
		}
	} else if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(source, target, "", flags, data); err != nil {
		return fmt.Errorf("bind %s on %s: %w", source, target, err)
	}
	return nil
}

// mountFlags splits OCI/fstab mount options into mount(2) flags and the file system's own data.
func mountFlags(options []string) (uintptr, string) {
	known := map[string]uintptr{
		"ro": syscall.MS_RDONLY, "nosuid": syscall.MS_NOSUID, "nodev": syscall.MS_NODEV, "noexec": syscall.MS_NOEXEC,
		"bind": syscall.MS_BIND, "rbind": syscall.MS_BIND | syscall.MS_REC, "strictatime": syscall.MS_STRICTATIME,
		"relatime": syscall.MS_RELATIME, "noatime": syscall.MS_NOATIME,
	}
	var flags uintptr
	var data []string
	for _, o := range options {
		if f, ok := known[o]; ok {
			flags |= f
		} else if o != "rw" {
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}
