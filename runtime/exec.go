package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/containerd/console"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Stdio is where an attached process reads and writes.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
	// TTY puts the caller's terminal in raw mode and allocates a console.
	TTY bool
}

// ExecRequest runs an extra process in a running container.
type ExecRequest struct {
	Args    []string
	Env     []string
	User    string
	WorkDir string
	Detach  bool
	Stdio   Stdio
	// Privileged gives the process every capability (exec --privileged).
	Privileged bool
	// OutputFile, when set, has the shim write the process's stdout and
	// stderr to this host file instead of FIFOs the caller reads: a caller
	// that dies mid-exec (the supervisor running a healthcheck) cannot
	// leave the shim blocked opening a FIFO nobody reads, which hangs the
	// shim and, when containerd gives up on it, takes the container down.
	OutputFile string
}

// Exec runs a process in the container and returns its exit code.
func (r *Runtime) Exec(ctx context.Context, id string, req ExecRequest) (int, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", id, conv(err))
	}
	t, err := r.task(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", id, conv(err))
	}
	pspec := *spec.Process
	pspec.Args = req.Args
	pspec.Terminal = req.Stdio.TTY && !req.Detach
	pspec.Env = append(append([]string{}, pspec.Env...), req.Env...)
	if req.WorkDir != "" {
		pspec.Cwd = req.WorkDir
	}
	if req.User != "" {
		info, err := c.Info(ctx)
		if err != nil {
			return 0, conv(err)
		}
		tmp := &oci.Spec{Process: &pspec, Root: spec.Root, Linux: spec.Linux}
		if err := oci.WithUser(req.User)(ctx, r.client, &containers.Container{ID: info.ID, Snapshotter: info.Snapshotter, SnapshotKey: info.SnapshotKey}, tmp); err != nil {
			return 0, fmt.Errorf("exec %s: user %s: %w", id, req.User, err)
		}
	}
	if req.Privileged {
		tmp := &oci.Spec{Process: &pspec}
		if err := oci.WithAllCurrentCapabilities(ctx, r.client, nil, tmp); err != nil {
			return 0, fmt.Errorf("exec %s: %w", id, err)
		}
	}
	execID := "exec-" + randomHex(12)
	att := &attached{creator: cio.NullIO}
	if req.OutputFile != "" {
		att.creator = cio.LogFile(req.OutputFile)
	} else if !req.Detach {
		if att, err = attachIO(req.Stdio, pspec.Terminal); err != nil {
			return 0, fmt.Errorf("exec %s: %w", id, err)
		}
		defer att.reset()
		pspec.ConsoleSize = consoleSize(att.con)
	}
	p, err := t.Exec(ctx, execID, &pspec, att.creator)
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", id, conv(err))
	}
	if req.Detach {
		if err := p.Start(ctx); err != nil {
			_, _ = p.Delete(ctx)
			return 0, fmt.Errorf("exec %s: %w", id, conv(err))
		}
		return 0, nil
	}
	defer p.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	return r.runAttached(ctx, p, att)
}

// runAttached starts an attached process, forwards its input and terminal
// size, and waits for its exit code.
func (r *Runtime) runAttached(ctx context.Context, p containerd.Process, att *attached) (int, error) {
	ch, err := p.Wait(ctx)
	if err != nil {
		return 0, conv(err)
	}
	if err := p.Start(ctx); err != nil {
		return 0, conv(err)
	}
	closeStdin := func() { _ = p.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser) }
	switch {
	case att.con != nil:
		stop := r.forwardResize(ctx, p, att.con)
		defer stop()
	case att.stdin == nil:
		closeStdin()
	default:
		// The end of the caller's input is the end of the process's:
		// `echo x | exec -T svc cat` ends.
		att.stdin.onEOF(closeStdin)
	}
	select {
	case es := <-ch:
		if ioo := p.IO(); ioo != nil {
			ioo.Wait()
		}
		code, _, err := es.Result()
		return int(code), conv(err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// consoleSize is the caller's terminal size for the process spec, so runc
// makes the process's terminal that size before the process runs (a resize
// after start would race with a program that reads the size at once); nil
// without a terminal.
func consoleSize(con console.Console) *specs.Box {
	if con == nil {
		return nil
	}
	ws, err := con.Size()
	if err != nil || ws.Width == 0 || ws.Height == 0 {
		return nil
	}
	return &specs.Box{Height: uint(ws.Height), Width: uint(ws.Width)}
}

// forwardResize keeps the process's terminal the size of the caller's: now,
// and on every SIGWINCH until stop is called.
func (r *Runtime) forwardResize(ctx context.Context, p containerd.Process, con console.Console) (stop func()) {
	resize := func() {
		if ws, err := con.Size(); err == nil {
			_ = p.Resize(ctx, uint32(ws.Width), uint32(ws.Height))
		}
	}
	resize()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				resize()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(winch); close(done) }
}

// StartAttached starts a created container with its stdio attached to the
// caller (for `run` in the foreground) and waits for it to exit; the task is
// then removed and its exit code recorded.
func (r *Runtime) StartAttached(ctx context.Context, id string, stdio Stdio) (int, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", id, conv(err))
	}
	att, err := attachIO(stdio, stdio.TTY)
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", id, err)
	}
	defer att.reset()
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", id, conv(err))
	}
	if err := r.prepareTask(ctx, c, spec); err != nil {
		return 0, fmt.Errorf("run %s: %w", id, err)
	}
	if box := consoleSize(att.con); box != nil {
		spec.Process.ConsoleSize = box
		if err := c.Update(ctx, containerd.UpdateContainerOpts(containerd.WithSpec(spec))); err != nil {
			return 0, fmt.Errorf("run %s: terminal size: %w", id, conv(err))
		}
	}
	t, err := r.newTask(ctx, c, att.creator)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", id, err)
	}
	code, err := r.runAttached(ctx, t, att)
	if rerr := r.reap(context.WithoutCancel(ctx), c, t); err == nil && rerr != nil {
		err = rerr
	}
	return code, err
}

// attached is a process's connection to the caller.
type attached struct {
	creator cio.Creator
	con     console.Console // the caller's terminal in raw mode, or nil
	stdin   *stdinEOF       // the caller's input without a terminal, or nil
	reset   func()          // restores the terminal
}

// attachIO connects a process to the caller: with tty, the caller's terminal
// in raw mode (reset restores it); otherwise the given streams.
func attachIO(stdio Stdio, tty bool) (*attached, error) {
	if !tty {
		att := &attached{reset: func() {}}
		var in io.Reader
		if stdio.In != nil {
			att.stdin = &stdinEOF{r: stdio.In}
			in = att.stdin
		}
		att.creator = cio.NewCreator(cio.WithStreams(in, stdio.Out, stdio.Err))
		return att, nil
	}
	con, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return nil, fmt.Errorf("the input device is not a TTY (use -T): %w", err)
	}
	if err := con.SetRaw(); err != nil {
		return nil, err
	}
	var in io.Reader = con
	if stdio.In == nil {
		in = nil // -i=false: the terminal shows output, takes no input
	}
	return &attached{creator: cio.NewCreator(cio.WithStreams(in, con, nil), cio.WithTerminal), con: con,
		reset: func() { _ = con.Reset() }}, nil
}

// stdinEOF passes the caller's input through and, at its end, closes the
// process's stdin (containerd's copy does not), as ctr does.
type stdinEOF struct {
	r io.Reader

	mu     sync.Mutex // guards closer and eof
	closer func()
	eof    bool
}

func (s *stdinEOF) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.mu.Lock()
		s.eof = true
		closer := s.closer
		s.mu.Unlock()
		if closer != nil {
			closer()
		}
	}
	return n, err
}

// onEOF sets what to do at the end of input; when it has already come,
// at once.
func (s *stdinEOF) onEOF(fn func()) {
	s.mu.Lock()
	s.closer = fn
	eof := s.eof
	s.mu.Unlock()
	if eof {
		fn()
	}
}
