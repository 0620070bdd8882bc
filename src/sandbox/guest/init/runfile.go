package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// RunConfig is the run file the host writes to the second disk (src/sandbox/guest/run-file.ts): JSON,
// padded with NUL bytes to a whole number of sectors.
type RunConfig struct {
	Args     []string  `json:"args"`
	Env      []string  `json:"env"`
	Cwd      string    `json:"cwd"`
	UID      uint32    `json:"uid"`
	GID      uint32    `json:"gid"`
	Hostname string    `json:"hostname"`
	MemoryMb int       `json:"memoryMb"`
	Net      NetConfig `json:"net"`
	// DataMount: where the writable data disk (vdc) is mounted in the app's root; empty when there is none.
	DataMount string `json:"dataMount,omitempty"`
	// RuntimeAPI: a function instance's Runtime API relay (runtime_relay.go); nil for an app.
	RuntimeAPI *RuntimeAPIRelay `json:"runtimeApi,omitempty"`
}

type NetConfig struct {
	Address string `json:"address"`
	Prefix  int    `json:"prefix"`
	Gateway string `json:"gateway"`
	MAC     string `json:"mac"`
}

func readRunFile(dev string) (*RunConfig, error) {
	raw, err := os.ReadFile(dev)
	if err != nil {
		return nil, fmt.Errorf("reading the run file: %w", err)
	}
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	var cfg RunConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("the run file is not valid JSON: %w", err)
	}
	if len(cfg.Args) == 0 {
		return nil, fmt.Errorf("the run file names no program to run")
	}
	return &cfg, nil
}
