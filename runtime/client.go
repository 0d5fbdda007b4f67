// Package runtime runs compose services on containerd: connection (and a
// private containerd when none runs), images, OCI specs, containers, tasks,
// exec and logs. Containerd and gRPC errors are converted to errdefs classes
// here so callers use errors.Is.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/internal/paths"
	"google.golang.org/grpc/status"
)

// DefaultAddress is the system containerd socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// DefaultNamespace is the containerd namespace gocompose works in.
const DefaultNamespace = "gocompose"

// Config says how to reach containerd.
type Config struct {
	// Address is the containerd socket. Empty means the system default,
	// falling back to a private containerd that gocompose starts.
	Address   string
	Namespace string
	// Notify receives the one line said when a private containerd starts.
	Notify io.Writer
}

// Runtime is a connection to containerd in one namespace.
type Runtime struct {
	client    *containerd.Client
	namespace string
	address   string
	// registries says how Pull and Push reach registries.
	registries Registries
}

// FromClient wraps an existing client for one namespace (the supervisor
// serves every namespace over one connection).
func FromClient(c *containerd.Client, namespace, address string) *Runtime {
	return &Runtime{client: c, namespace: namespace, address: address}
}

// Client returns the underlying containerd client.
func (r *Runtime) Client() *containerd.Client { return r.client }

// Address is the socket this runtime talks to.
func (r *Runtime) Address() string { return r.address }

// Namespace is the containerd namespace in use.
func (r *Runtime) Namespace() string { return r.namespace }

// Close closes the connection.
func (r *Runtime) Close() error { return r.client.Close() }

// systemAddress is the address tried first when the user set none; tests
// point it elsewhere to exercise the private containerd.
func systemAddress() string {
	if v := os.Getenv("GOCOMPOSE_SYSTEM_CONTAINERD"); v != "" {
		return v
	}
	return DefaultAddress
}

// PrivateDir is where the private containerd keeps its socket, config and pid.
func PrivateDir() string { return filepath.Join(paths.State(), "containerd") }

// PrivateAddress is the private containerd's socket.
func PrivateAddress() string { return filepath.Join(PrivateDir(), "containerd.sock") }

// Connect reaches containerd. When the user named no address and nothing
// answers at the system socket, it uses, or starts, a private containerd.
func Connect(ctx context.Context, cfg Config) (*Runtime, error) {
	ns := cfg.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if cfg.Address != "" {
		c, err := dial(ctx, cfg.Address, ns)
		if err != nil {
			return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
		}
		return &Runtime{client: c, namespace: ns, address: cfg.Address}, nil
	}
	// The first command on a host picks the system containerd when it
	// answers, else a private one, and records the choice: the projects
	// live there. Later, a recorded system containerd that does not answer
	// is an error (a private one would show no projects, and a second `up`
	// would start them again there), and a recorded private one stays in
	// use even when a system containerd appears.
	used, err := readUsed()
	if err != nil {
		return nil, err
	}
	switch used {
	case systemAddress():
		c, err := dial(ctx, used, ns)
		if err != nil {
			return nil, fmt.Errorf("containerd does not answer at %s, where this host's projects are (start it, e.g. `systemctl start containerd`, or pass --address): %w: %w", used, errdefs.ErrUnavailable, err)
		}
		return &Runtime{client: c, namespace: ns, address: used}, nil
	case "":
		if c, err := dial(ctx, systemAddress(), ns); err == nil {
			if err := recordUsed(systemAddress()); err != nil {
				c.Close()
				return nil, err
			}
			return &Runtime{client: c, namespace: ns, address: systemAddress()}, nil
		}
	}
	if c, err := dial(ctx, PrivateAddress(), ns); err == nil {
		return &Runtime{client: c, namespace: ns, address: PrivateAddress()}, recordUsed(PrivateAddress())
	}
	c, err := startPrivate(ctx, ns, cfg.Notify)
	if err != nil {
		return nil, err
	}
	return &Runtime{client: c, namespace: ns, address: PrivateAddress()}, recordUsed(PrivateAddress())
}

// usedFile records which containerd (the system's or the private one) this
// state root's projects live in.
func usedFile() string { return filepath.Join(paths.Root(), "containerd.address") }

// readUsed returns the recorded containerd address, "" when none was
// recorded yet.
func readUsed() (string, error) {
	b, err := os.ReadFile(usedFile())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read which containerd is in use: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// recordUsed writes the address through a temporary file, once.
func recordUsed(address string) error {
	if cur, err := readUsed(); err != nil || cur == address {
		return err
	}
	if err := os.MkdirAll(paths.Root(), 0o711); err != nil {
		return fmt.Errorf("record which containerd is in use: %w", err)
	}
	tmp, err := os.CreateTemp(paths.Root(), ".containerd.address.*")
	if err != nil {
		return fmt.Errorf("record which containerd is in use: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(address + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("record which containerd is in use: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("record which containerd is in use: %w", err)
	}
	return os.Rename(tmp.Name(), usedFile())
}

// Probe answers the version of the containerd gocompose would use (the
// address given, else the one this host's projects live on, else the
// system one, else a running private one) and its address, starting none.
func Probe(ctx context.Context, address string) (version, addr string, err error) {
	tries := []string{address}
	if address == "" {
		used, err := readUsed()
		if err != nil {
			return "", usedFile(), err
		}
		tries = []string{used}
		if used == "" {
			tries = []string{systemAddress(), PrivateAddress()}
		}
	}
	for _, a := range tries {
		c, derr := dial(ctx, a, DefaultNamespace)
		if derr != nil {
			err = derr
			continue
		}
		defer c.Close()
		v, verr := c.Version(ctx)
		if verr != nil {
			return "", a, verr
		}
		return v.Version, a, nil
	}
	return "", strings.Join(tries, " or "), err
}

func dial(ctx context.Context, address, ns string) (*containerd.Client, error) {
	if _, err := os.Stat(address); err != nil {
		return nil, err
	}
	c, err := containerd.New(address, containerd.WithDefaultNamespace(ns), containerd.WithTimeout(2*time.Second))
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Version(vctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

const privateConfig = `version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""
`

// startPrivate starts containerd from PATH, detached (own session, stdio to a
// log file) so that it and its containers outlive this command. A lock makes
// concurrent commands start one instance.
func startPrivate(ctx context.Context, ns string, notify io.Writer) (*containerd.Client, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("no containerd answers at %s and none is installed to start: %w", systemAddress(), err)
	}
	dir := PrivateDir()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("private containerd: %w", err)
	}
	l, err := lock.Project(ctx, dir, "start")
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	// Another command may have started it while we waited for the lock.
	if c, err := dial(ctx, PrivateAddress(), ns); err == nil {
		return c, nil
	}
	root := filepath.Join(paths.Root(), "containerd")
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("private containerd: %w", err)
	}
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf(privateConfig, root, filepath.Join(dir, "state"), PrivateAddress(), PrivateAddress()+".ttrpc")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("private containerd: %w", err)
	}
	logPath := filepath.Join(paths.Root(), "containerd.log")
	pid, err := daemon.Start(bin, []string{"--config", cfgPath}, logPath)
	if err != nil {
		return nil, fmt.Errorf("private containerd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "containerd.pid"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := dial(ctx, PrivateAddress(), ns)
		if err == nil {
			if notify != nil {
				fmt.Fprintf(notify, "no containerd at %s: started a private one at %s (pid %d)\n", systemAddress(), PrivateAddress(), pid)
			}
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("private containerd did not answer at %s within 15s (see %s): %w",
				PrivateAddress(), logPath, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// conv maps containerd/gRPC errors onto errdefs classes, keeping the
// message, so callers can use errors.Is and users still see what failed.
func conv(err error) error {
	if err == nil {
		return nil
	}
	// The client converts most errors itself; only raw gRPC statuses left.
	if _, ok := status.FromError(err); ok {
		return errgrpc.ToNative(err)
	}
	return err
}

// IsNotFound reports whether err is a not-found error from containerd.
func IsNotFound(err error) bool { return errdefs.IsNotFound(err) }
