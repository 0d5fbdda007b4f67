// Package paths gives the host directories gocompose uses, overridable for tests.
package paths

import (
	"os"
	"path/filepath"
)

// Root is the persistent data directory (default /var/lib/gocompose), set by
// GOCOMPOSE_ROOT.
func Root() string {
	if v := os.Getenv("GOCOMPOSE_ROOT"); v != "" {
		return v
	}
	return "/var/lib/gocompose"
}

// State is the runtime directory (default /run/gocompose), set by GOCOMPOSE_STATE.
func State() string {
	if v := os.Getenv("GOCOMPOSE_STATE"); v != "" {
		return v
	}
	return "/run/gocompose"
}

// Logs is where container json-file logs live.
func Logs() string { return filepath.Join(Root(), "logs") }

// Locks is where per-project lock files live.
func Locks() string { return filepath.Join(State(), "locks") }
