// Package build describes image builds and runs them: a Request is what a
// service's build: section asks for, Helper runs it in gocompose-build (the
// executable that links BuildKit's client, package build/buildkit), and
// Daemon says where the buildkitd it finds or starts runs (containerd
// worker, same namespace, so images land in containerd's store).
package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/internal/helper"
)

// Daemon says where buildkitd runs for one containerd namespace.
type Daemon struct {
	Containerd string // containerd socket
	Namespace  string
	State      string // socket, pid and log under State/buildkit/<ns>
	Root       string // build cache under Root/buildkit/<ns>
}

// key separates daemons (and their caches) per containerd and namespace:
// BuildKit's cache records blobs that live in one containerd's store.
func (d Daemon) key() string {
	sum := sha256.Sum256([]byte(d.Containerd))
	return d.Namespace + "-" + hex.EncodeToString(sum[:])[:8]
}

// Dir holds the daemon's socket, pid, arguments and log.
func (d Daemon) Dir() string { return filepath.Join(d.State, "buildkit", d.key()) }

// Socket is the buildkitd socket.
func (d Daemon) Socket() string { return filepath.Join(d.Dir(), "buildkitd.sock") }

// PidFile is where the pid of the started buildkitd is kept.
func (d Daemon) PidFile() string { return filepath.Join(d.Dir(), "buildkitd.pid") }

// FindBinary looks for buildkitd beside the running executable (gocompose,
// or gocompose-build beside it), then on PATH.
func FindBinary() (string, error) {
	if p, err := helper.Find("buildkitd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("buildkitd not found beside gocompose or on PATH (build it with `make buildkitd`)")
}

// Args are buildkitd's arguments: the containerd worker on our namespace,
// and the insecure entitlements a build may ask for (build.privileged,
// build.entitlements), granted only to builds that ask.
func (d Daemon) Args(root string) []string {
	args := []string{"--root", root, "--addr", "unix://" + d.Socket(),
		"--oci-worker=false", "--containerd-worker=true",
		"--containerd-worker-addr", d.Containerd, "--containerd-worker-namespace", d.Namespace,
		"--containerd-worker-net", "host", "--containerd-worker-gc=true"}
	for _, e := range Entitlements {
		args = append(args, "--allow-insecure-entitlement", e)
	}
	return args
}

// ArgsFile records the arguments the running buildkitd was started with.
func (d Daemon) ArgsFile() string { return filepath.Join(d.Dir(), "buildkitd.args") }

// Current says whether the buildkitd that answers was started with
// today's arguments; one started by an older gocompose is restarted.
func (d Daemon) Current() bool {
	b, err := os.ReadFile(d.ArgsFile())
	return err == nil && string(b) == strings.Join(d.Args(d.CacheRoot()), "\n")
}

// Stop ends a buildkitd started by Client, waiting for it to exit.
func (d Daemon) Stop() error {
	b, err := os.ReadFile(d.PidFile())
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return os.Remove(d.PidFile())
	}
	// Only a live buildkitd is signalled: the pid of a stale pid file may
	// belong to another process by now.
	if !daemon.Stop(pid, "buildkitd", 5*time.Second) {
		return fmt.Errorf("buildkitd (pid %d) did not stop", pid)
	}
	return os.Remove(d.PidFile())
}

// CacheRoot is buildkitd's root (its build cache) for this daemon.
func (d Daemon) CacheRoot() string { return filepath.Join(d.Root, "buildkit", d.key()) }
