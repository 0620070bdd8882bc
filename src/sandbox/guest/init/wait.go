package main

import (
	"syscall"
	"time"
)

// waitGone waits until pid has been reaped (by cmd.Wait).
func waitGone(pid int) {
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(20 * time.Millisecond)
	}
}
