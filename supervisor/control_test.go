package supervisor

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// serveFake serves the control protocol on state's socket, as Run does,
// with rebuilds answered by rebuild.
func serveFake(t *testing.T, state string, rebuild func() error) (stopped chan struct{}) {
	t.Helper()
	l, err := net.Listen("unix", SocketPath(state))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &supervisor{cfg: Config{Address: "/run/containerd/containerd.sock"}, reqs: make(chan chan error), identity: Identity()}
	go func() {
		for {
			select {
			case done := <-s.reqs:
				done <- rebuild()
			case <-ctx.Done():
				return
			}
		}
	}()
	stopped = make(chan struct{})
	go func() {
		<-ctx.Done()
		close(stopped)
		l.Close()
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.serveControl(ctx, conn, cancel)
		}
	}()
	t.Cleanup(cancel)
	return stopped
}

func TestControlProtocol(t *testing.T) {
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if Ping(ctx, state) {
		t.Fatal("ping answered with no supervisor")
	}
	rebuilds := 0
	failNext := false
	stopped := serveFake(t, state, func() error {
		rebuilds++
		if failNext {
			return errors.New("list containers: unavailable")
		}
		return nil
	})
	if !Ping(ctx, state) {
		t.Fatal("no pong")
	}
	self, _ := os.Executable()
	if answers, same := current(ctx, state, "/run/containerd/containerd.sock", self); !answers || !same {
		t.Errorf("current: answers %v, same binary and containerd %v", answers, same)
	}
	// Watching another containerd, it is not the one a command using a
	// private containerd needs: Ensure replaces it.
	if answers, same := current(ctx, state, "/run/gocompose/containerd/containerd.sock", self); !answers || same {
		t.Errorf("current with another containerd: answers %v, same %v", answers, same)
	}
	// Another binary (gocompose-supervisor where this was the full one).
	if answers, same := current(ctx, state, "/run/containerd/containerd.sock", "/bin/sh"); !answers || same {
		t.Errorf("current with another containerd: answers %v, same %v", answers, same)
	}
	if err := Reload(ctx, state); err != nil || rebuilds != 1 {
		t.Errorf("reload: %v after %d rebuilds", err, rebuilds)
	}
	failNext = true
	if err := Reload(ctx, state); err == nil || !strings.Contains(err.Error(), "supervisor: list containers: unavailable") {
		t.Errorf("failed rebuild: %v", err)
	}
	if _, err := request(ctx, state, "dance"); err == nil || !strings.Contains(err.Error(), "unknown request") {
		t.Errorf("unknown request: %v", err)
	}
	if err := Stop(ctx, state); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("stop did not stop the supervisor")
	}
}

// With no supervisor (no socket, or a socket file left with nothing
// listening) a reload has nothing to update and succeeds.
func TestReloadWithNoSupervisor(t *testing.T) {
	state := t.TempDir()
	if err := Reload(t.Context(), state); err != nil {
		t.Errorf("no socket: %v", err)
	}
	l, err := net.Listen("unix", SocketPath(state))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := Reload(t.Context(), state); err != nil {
		t.Errorf("stale socket: %v", err)
	}
}

func TestResolvers(t *testing.T) {
	for _, tc := range []struct {
		conf string
		want []string
	}{
		{"nameserver 192.0.2.1\nnameserver 2001:db8::1\nsearch example\n", []string{"192.0.2.1:53", "[2001:db8::1]:53"}},
		// systemd-resolved's stub is left out when real servers are known…
		{"nameserver 127.0.0.53\nnameserver 192.0.2.1\n", []string{"192.0.2.1:53"}},
		// …and used when it is all there is.
		{"nameserver 127.0.0.53\noptions edns0\n", []string{"127.0.0.53:53"}},
		{"# nothing\n", nil},
	} {
		if got := resolvers([]byte(tc.conf)); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.conf, got, tc.want)
		}
	}
}
