package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/containerd/console"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/logdriver"
	"github.com/moby/term"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StdinOpenAnnotation in a container's OCI spec says its stdin stays open
// (stdin_open: true): its tasks get a stdin that attach can write to.
const StdinOpenAnnotation = "com.gocompose.stdin-open"

// LogDriverAnnotation in a container's OCI spec names its log driver when
// it is not the json-file log alone: "none" (its tasks get the held IO: no
// log, output streamed and replayed from memory), or syslog, journald or
// fluentd (whose target is checked before each task starts).
const LogDriverAnnotation = "com.gocompose.log-driver"

// HoldArg is the log driver's argument for containers with stdin_open.
const HoldArg = logdriver.HoldArg

// RunHold is that mode's main when gocompose itself is the driver.
func RunHold(args []string) { logdriver.HoldMain(args) }

// holdOptions says whether the spec's tasks need heldIO, and with what.
func holdOptions(spec *specs.Spec) (logdriver.HoldOptions, bool) {
	if spec == nil {
		return logdriver.HoldOptions{}, false
	}
	o := logdriver.HoldOptions{
		TTY:   spec.Process != nil && spec.Process.Terminal,
		Stdin: spec.Annotations[StdinOpenAnnotation] == "true",
		NoLog: spec.Annotations[LogDriverAnnotation] == "none",
	}
	return o, o.Stdin || o.NoLog
}

// StdioDir is where a stdin_open container's FIFOs and attach socket live:
// a short name under the state directory, as socket paths are limited.
func StdioDir(ns, id string) string {
	sum := sha256.Sum256([]byte(ns + "/" + id))
	return filepath.Join(paths.State(), "stdio", fmt.Sprintf("%x", sum[:10]))
}

// heldIO is the IO creator for a stdin_open container: FIFOs for stdin and
// output in its stdio directory, and the log driver, started detached in
// its own session, at their other end (the shim's log driver protocol
// carries no stdin). The driver outlives the command that started it and
// ends with the container's output.
func heldIO(ns, id string, o logdriver.HoldOptions) cio.Creator {
	return func(string) (cio.IO, error) {
		dir := StdioDir(ns, id)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("stdio of %s: %w", id, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("stdio of %s: %w", id, err)
		}
		cfg := cio.Config{Terminal: o.TTY, Stdout: filepath.Join(dir, logdriver.StdoutFile)}
		fifos := []string{cfg.Stdout}
		if o.Stdin {
			cfg.Stdin = filepath.Join(dir, logdriver.StdinFile)
			fifos = append(fifos, cfg.Stdin)
		}
		if !o.TTY {
			cfg.Stderr = filepath.Join(dir, logdriver.StderrFile)
			fifos = append(fifos, cfg.Stderr)
		}
		for _, f := range fifos {
			if err := syscall.Mkfifo(f, 0o600); err != nil {
				return nil, fmt.Errorf("stdio of %s: %w", id, err)
			}
		}
		exe, err := LoggerPath()
		if err != nil {
			return nil, err
		}
		ready, readyW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, HoldArg, paths.Logs(), dir, ns, id, o.String())
		cmd.ExtraFiles = []*os.File{readyW}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.Dir = "/" // it outlives the command's directory
		err = cmd.Start()
		readyW.Close()
		if err != nil {
			ready.Close()
			return nil, fmt.Errorf("stdio of %s: start the log driver: %w", id, err)
		}
		h := &held{cfg: cfg, proc: cmd.Process}
		go func() {
			b := make([]byte, 1)
			if n, _ := ready.Read(b); n == 1 {
				h.connected.Store(true)
			}
			ready.Close()
		}()
		go func() { _ = cmd.Wait() }() // reaped here; it may outlive us
		return h, nil
	}
}

// held is the cio.IO of heldIO: the driver copies, so there is nothing to
// wait for or close here. Cancel, which containerd's client calls when the
// task could not be made or started, stops a driver the shim never
// connected to (it would wait for the FIFOs to open); a connected one ends
// by itself when the shim closes them.
type held struct {
	cfg       cio.Config
	proc      *os.Process
	connected atomic.Bool
}

func (h *held) Config() cio.Config { return h.cfg }
func (h *held) Wait()              {}
func (h *held) Close() error       { return nil }
func (h *held) Cancel() {
	if !h.connected.Load() {
		_ = h.proc.Kill()
	}
}

// ErrNoStdio is returned by AttachStdio for a container without a stdio
// socket (no stdin_open, or started by a build from before it had one).
var ErrNoStdio = errors.New("the container has no attach socket")

// ErrDetached is returned by AttachStdio when the user typed the detach
// keys; its text is Docker's.
var ErrDetached = errors.New("read escape sequence")

// AttachIO is what AttachStdio connects the container to.
type AttachIO struct {
	In       io.Reader // nil: output only
	Out, Err io.Writer
	// DetachKeys are the keys that leave the container running (Docker's
	// ctrl-p,ctrl-q when empty).
	DetachKeys string
	// Replay, for a container whose log driver is none, gets its output
	// since it started (kept in memory by its driver) before the rest.
	Replay bool
}

// AttachStdio connects to a running stdin_open container's stdio: its
// output from now on to Out and Err, In to its stdin. With a terminal
// container and In a terminal, the caller's terminal is put in raw mode and
// the container's kept its size. It returns when the container's output
// ends, or with ErrDetached when the detach keys were typed.
func (r *Runtime) AttachStdio(ctx context.Context, id string, a AttachIO) error {
	keys := []byte{16, 17} // ctrl-p, ctrl-q
	if a.DetachKeys != "" {
		k, err := term.ToBytes(a.DetachKeys)
		if err != nil {
			return fmt.Errorf("invalid detach keys (%s): %w", a.DetachKeys, err)
		}
		keys = k
	}
	sock := logdriver.SocketFile
	if a.Replay {
		sock = logdriver.ReplayFile
	}
	conn, err := net.Dial("unix", filepath.Join(StdioDir(r.namespace, id), sock))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNoStdio
		}
		return fmt.Errorf("attach %s: %w", id, err)
	}
	defer conn.Close()
	in := a.In
	if in != nil {
		t, err := r.task(ctx, id)
		if err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		spec, err := t.Spec(ctx)
		if err != nil {
			return fmt.Errorf("attach %s: %w", id, conv(err))
		}
		if spec.Process != nil && spec.Process.Terminal {
			f, _ := in.(*os.File)
			if f == nil {
				return errors.New("cannot attach stdin to a TTY-enabled container because stdin is not a terminal")
			}
			con, err := console.ConsoleFromFile(f)
			if err != nil {
				return errors.New("cannot attach stdin to a TTY-enabled container because stdin is not a terminal")
			}
			if err := con.SetRaw(); err != nil {
				return fmt.Errorf("attach %s: %w", id, err)
			}
			var once sync.Once
			reset := func() { once.Do(func() { _ = con.Reset() }) }
			defer reset()
			// A size that changes makes the program draw again, so a
			// second attach shows the screen (as Docker does).
			if ws, err := con.Size(); err == nil {
				_ = t.Resize(ctx, uint32(ws.Width)+1, uint32(ws.Height)+1)
			}
			stop := r.forwardResize(ctx, t, con)
			defer stop()
		}
	}
	detached := make(chan struct{})
	if in != nil {
		go func() {
			_, err := io.Copy(conn, term.NewEscapeProxy(in, keys))
			var esc term.EscapeError
			if errors.As(err, &esc) {
				close(detached)
			}
		}()
	}
	output := make(chan error, 1)
	go func() {
		for {
			stream, p, err := logdriver.ReadFrame(conn)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
					err = nil
				}
				output <- err
				return
			}
			w := a.Out
			if stream == logdriver.Stderr {
				w = a.Err
			}
			_, _ = w.Write(p)
		}
	}()
	select {
	case err := <-output:
		if err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		return nil
	case <-detached:
		return ErrDetached
	case <-ctx.Done():
		return ctx.Err()
	}
}
