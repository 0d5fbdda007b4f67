// Package build builds compose services' images with BuildKit: it finds or
// starts buildkitd (containerd worker, same namespace, so images land in
// containerd's store) and drives the Dockerfile frontend through the
// BuildKit client.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/internal/lock"
	bk "github.com/moby/buildkit/client"
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

func (d Daemon) dir() string { return filepath.Join(d.State, "buildkit", d.key()) }

// Socket is the buildkitd socket.
func (d Daemon) Socket() string { return filepath.Join(d.dir(), "buildkitd.sock") }

// PidFile is where the pid of the started buildkitd is kept.
func (d Daemon) PidFile() string { return filepath.Join(d.dir(), "buildkitd.pid") }

// FindBinary looks for buildkitd beside the running gocompose, then on PATH.
func FindBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "buildkitd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("buildkitd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("buildkitd not found beside gocompose or on PATH (build it with `make buildkitd`)")
}

func (d Daemon) dial(ctx context.Context) (*bk.Client, error) {
	if _, err := os.Stat(d.Socket()); err != nil {
		return nil, err
	}
	c, err := bk.New(ctx, "unix://"+d.Socket())
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Info(pctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// args are buildkitd's arguments: the containerd worker on our namespace,
// and the insecure entitlements a build may ask for (build.privileged,
// build.entitlements), granted only to builds that ask.
func (d Daemon) args(root string) []string {
	args := []string{"--root", root, "--addr", "unix://" + d.Socket(),
		"--oci-worker=false", "--containerd-worker=true",
		"--containerd-worker-addr", d.Containerd, "--containerd-worker-namespace", d.Namespace,
		"--containerd-worker-net", "host", "--containerd-worker-gc=true"}
	for _, e := range Entitlements {
		args = append(args, "--allow-insecure-entitlement", e)
	}
	return args
}

// argsFile records the arguments the running buildkitd was started with.
func (d Daemon) argsFile() string { return filepath.Join(d.dir(), "buildkitd.args") }

// current says whether the buildkitd that answers was started with
// today's arguments; one started by an older gocompose is restarted.
func (d Daemon) current() bool {
	b, err := os.ReadFile(d.argsFile())
	return err == nil && string(b) == strings.Join(d.args(filepath.Join(d.Root, "buildkit", d.key())), "\n")
}

// Client connects to buildkitd, starting it (detached: own session, output
// to a log file) when none answers. A lock makes concurrent commands start
// one instance. A buildkitd started with other arguments (by an older
// gocompose) is stopped and started again.
func (d Daemon) Client(ctx context.Context) (*bk.Client, error) {
	if c, err := d.dial(ctx); err == nil {
		if d.current() {
			return c, nil
		}
		c.Close()
	}
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.dir(), 0o700); err != nil {
		return nil, err
	}
	l, err := lock.Project(ctx, d.dir(), "start")
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	if c, err := d.dial(ctx); err == nil {
		if d.current() {
			return c, nil
		}
		c.Close()
		if err := d.Stop(); err != nil {
			return nil, fmt.Errorf("restart buildkitd with new arguments: %w", err)
		}
	}
	root := filepath.Join(d.Root, "buildkit", d.key())
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(d.dir(), "buildkitd.log")
	_ = os.Remove(d.Socket())
	pid, err := daemon.Start(bin, d.args(root), logPath)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.PidFile(), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.argsFile(), []byte(strings.Join(d.args(root), "\n")), 0o644); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := d.dial(ctx)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("buildkitd did not answer within 20s (see %s): %w", logPath, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
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
