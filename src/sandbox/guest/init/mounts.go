package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const newRoot = "/mnt/root"

func mount(src, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", src, target, fstype, err)
	}
	return nil
}

func mountBase() error {
	for _, m := range []struct{ src, target, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := mount(m.src, m.target, m.fs, syscall.MS_NOSUID|syscall.MS_NOEXEC, ""); err != nil {
			return err
		}
	}
	return nil
}

// mountRoot: the image disk read-only, a tmpfs upper, the overlay of both as the app's root, and the
// kernel file systems and /etc/hosts inside it.
func mountRoot(disk string, cfg *RunConfig) error {
	if err := mount(disk, "/mnt/image", "ext4", syscall.MS_RDONLY, ""); err != nil {
		return err
	}
	if err := mount("rw", "/mnt/rw", "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	for _, d := range []string{"/mnt/rw/upper", "/mnt/rw/work"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := mount("overlay", newRoot, "overlay", 0, "lowerdir=/mnt/image,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work"); err != nil {
		return err
	}
	for _, m := range []struct {
		src, target, fs string
		flags           uintptr
		data            string
	}{
		{"proc", "proc", "proc", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, ""},
		{"sysfs", "sys", "sysfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC | syscall.MS_RDONLY, ""},
		{"devtmpfs", "dev", "devtmpfs", syscall.MS_NOSUID, ""},
		{"devpts", "dev/pts", "devpts", syscall.MS_NOSUID | syscall.MS_NOEXEC, "newinstance,ptmxmode=0666"},
		{"shm", "dev/shm", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777"},
		{"tmp", "tmp", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777"},
	} {
		if err := mount(m.src, filepath.Join(newRoot, m.target), m.fs, m.flags, m.data); err != nil {
			return err
		}
	}
	if cfg.DataMount != "" {
		data, err := diskPath("vdc")
		if err != nil {
			return err
		}
		if err := mount(data, filepath.Join(newRoot, cfg.DataMount), "ext4", syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(newRoot, "etc"), 0o755); err != nil {
		return err
	}
	return setIdentity(cfg.Hostname, cfg.Net.Address)
}

// setIdentity names the guest (hostname, and /etc/hosts for it): at boot, and after each restore, where
// the guest was another instance a moment ago.
func setIdentity(hostname, address string) error {
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n", address, hostname)
	if err := os.WriteFile(filepath.Join(newRoot, "etc/hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	return syscall.Sethostname([]byte(hostname))
}
