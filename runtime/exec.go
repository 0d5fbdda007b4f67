package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/console"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
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
	ioc, con := cio.Creator(cio.NullIO), console.Console(nil)
	if !req.Detach {
		var reset func()
		if ioc, con, reset, err = attachIO(req.Stdio, pspec.Terminal); err != nil {
			return 0, fmt.Errorf("exec %s: %w", id, err)
		}
		defer reset()
	}
	p, err := t.Exec(ctx, execID, &pspec, ioc)
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
	return r.runAttached(ctx, p, con, req.Stdio.In)
}

// runAttached starts an attached process, forwards its input and terminal
// size, and waits for its exit code.
func (r *Runtime) runAttached(ctx context.Context, p containerd.Process, con console.Console, in io.Reader) (int, error) {
	ch, err := p.Wait(ctx)
	if err != nil {
		return 0, conv(err)
	}
	if err := p.Start(ctx); err != nil {
		return 0, conv(err)
	}
	if con != nil {
		stop := r.forwardResize(ctx, p, con)
		defer stop()
	} else if in == nil {
		_ = p.CloseIO(ctx, containerd.WithStdinCloser)
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
	ioc, con, reset, err := attachIO(stdio, stdio.TTY)
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", id, err)
	}
	defer reset()
	t, err := c.NewTask(ctx, ioc)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", id, conv(err))
	}
	code, err := r.runAttached(ctx, t, con, stdio.In)
	if rerr := r.reap(context.WithoutCancel(ctx), c, t); err == nil && rerr != nil {
		err = rerr
	}
	return code, err
}

// attachIO connects a process to the caller: with tty, the caller's terminal
// in raw mode (reset restores it); otherwise the given streams.
func attachIO(stdio Stdio, tty bool) (cio.Creator, console.Console, func(), error) {
	if !tty {
		return cio.NewCreator(cio.WithStreams(stdio.In, stdio.Out, stdio.Err)), nil, func() {}, nil
	}
	con, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the input device is not a TTY (use -T): %w", err)
	}
	if err := con.SetRaw(); err != nil {
		return nil, nil, nil, err
	}
	var in io.Reader = con
	if stdio.In == nil {
		in = nil // -i=false: the terminal shows output, takes no input
	}
	return cio.NewCreator(cio.WithStreams(in, con, nil), cio.WithTerminal), con, func() { _ = con.Reset() }, nil
}
