package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gocompose/gocompose/internal/daemon"
)

// request sends one control request and returns the answer line.
func request(ctx context.Context, state, req string) (string, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", SocketPath(state))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if _, err := fmt.Fprintln(conn, req); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("supervisor: %s", msg)
	}
	return line, nil
}

// Ping reports whether a supervisor answers for state.
func Ping(ctx context.Context, state string) bool {
	_, err := request(ctx, state, "ping")
	return err == nil
}

// Identity names the binary a supervisor runs from (path, size and
// modification time), so a CLI can tell a supervisor left from an older
// build and replace it.
func Identity() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return identityOf(exe)
}

// identityOf is the Identity of a process running exe.
func identityOf(exe string) string {
	st, err := os.Stat(exe)
	if err != nil {
		return exe
	}
	return fmt.Sprintf("%s:%d:%d", exe, st.Size(), st.ModTime().UnixNano())
}

// current reports whether a supervisor answers for state, and whether it
// runs the same binary as this process and watches the containerd at
// address: one left by an older build, or started by a command that used
// another containerd (the system one, then a private one), is not the
// supervisor this command needs.
func current(ctx context.Context, state, address, bin string) (answers, same bool) {
	line, err := request(ctx, state, "ping")
	if err != nil {
		return false, false
	}
	f := strings.Fields(line)
	return true, len(f) >= 4 && f[2] == identityOf(bin) && f[3] == address
}

// BinaryName is the supervisor's own executable, installed beside
// gocompose: it links the supervisor's packages and none of the compose
// loader, builds or Kubernetes, so the process that lives as long as the
// containers holds half the memory of the full binary.
const BinaryName = "gocompose-supervisor"

// Command is how the gocompose binary exe starts the supervisor: the
// gocompose-supervisor beside it, or else exe's own `supervisor` command.
func Command(exe string) (string, []string) {
	small := filepath.Join(filepath.Dir(exe), BinaryName)
	if st, err := os.Stat(small); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return small, nil
	}
	return exe, []string{"supervisor"}
}

// Reload makes the supervisor rebuild its records now and waits for it.
// With no supervisor running (no socket, or nothing listening on it) there
// is nothing to reload: one that starts later builds its records from the
// containers' labels.
func Reload(ctx context.Context, state string) error {
	_, err := request(ctx, state, "reload")
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	return err
}

// Stop asks the supervisor to exit.
func Stop(ctx context.Context, state string) error {
	_, err := request(ctx, state, "stop")
	return err
}

// Ensure starts the supervisor (exe supervisor --address ADDR) unless one
// answers: detached in its own session with output to a log file, so it
// outlives the command; it waits until it answers.
func Ensure(ctx context.Context, state, address, exe string) error {
	bin, args := Command(exe)
	answers, same := current(ctx, state, address, bin)
	if answers && same {
		return nil
	}
	if answers {
		// A supervisor from another build, or watching another
		// containerd: replace it. Containers are not affected; the new
		// one rebuilds everything from labels.
		_ = Stop(ctx, state)
		for i := 0; i < 100 && Ping(ctx, state); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(state, "supervisor.log")
	if _, err := daemon.Start(bin, append(args, "--watchdog", "--address", address), logPath); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !Ping(ctx, state) {
		if time.Now().After(deadline) {
			return fmt.Errorf("supervisor did not answer within 10s (see %s)", logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Upstreams reads the host's resolvers: systemd-resolved's real upstream
// list when present, else /etc/resolv.conf.
func Upstreams() []string {
	for _, f := range []string{"/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"} {
		if b, err := os.ReadFile(f); err == nil {
			if r := resolvers(b); len(r) > 0 {
				return r
			}
		}
	}
	return nil
}

// resolvers returns the nameservers of a resolv.conf as host:port, loopback
// stubs left out unless they are all there is (the supervisor runs on the
// host, so it can reach them).
func resolvers(b []byte) []string {
	var all, real []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "nameserver" {
			hp := net.JoinHostPort(fields[1], "53")
			all = append(all, hp)
			if ip := net.ParseIP(fields[1]); ip != nil && !ip.IsLoopback() {
				real = append(real, hp)
			}
		}
	}
	if len(real) > 0 {
		return real
	}
	return all
}
