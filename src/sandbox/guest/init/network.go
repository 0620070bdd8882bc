package main

import (
	"fmt"
	"os/exec"
)

// setupNetwork configures eth0 with busybox ip (carried in the initramfs), and lo.
func setupNetwork(n NetConfig) error {
	cmds := [][]string{{"link", "set", "lo", "up"}}
	if n.Address != "" {
		cmds = append(cmds,
			[]string{"link", "set", "eth0", "address", n.MAC},
			[]string{"addr", "flush", "dev", "eth0"},
			[]string{"addr", "add", fmt.Sprintf("%s/%d", n.Address, n.Prefix), "dev", "eth0"},
			[]string{"link", "set", "eth0", "up"},
			[]string{"route", "replace", "default", "via", n.Gateway},
		)
	}
	for _, c := range cmds {
		if out, err := exec.Command("/bin/busybox", append([]string{"ip"}, c...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %v: %s", c, err, out)
		}
	}
	if n.Address != "" {
		// Tells the bridge and the host the (possibly new) MAC of this address, after a restore too.
		_ = exec.Command("/bin/busybox", "arping", "-U", "-c", "1", "-I", "eth0", n.Address).Run()
	}
	return nil
}
