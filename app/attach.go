package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/runtime"
)

// AttachOptions are `attach`'s flags.
type AttachOptions struct {
	Index    int  // which replica (0: the first)
	SigProxy bool // an interrupt is sent to the container, not taken by gocompose
	NoStdin  bool
	// DetachKeys leave the container running (Docker's ctrl-p,ctrl-q when
	// empty).
	DetachKeys string
}

// Attach connects to a running service container until it exits, and its
// exit code is the command's: its output from now on to Out and Err and,
// for a stdin_open service unless NoStdin, In to its stdin (a terminal
// put in raw mode for a tty service; the detach keys leave it running,
// with runtime.ErrDetached). With SigProxy, an interrupt (ctx ending) is
// sent on to the container as SIGINT and the output followed on until it
// exits; without, gocompose leaves and the container keeps running.
func (a *App) Attach(ctx context.Context, p *types.Project, service string, o AttachOptions) error {
	if err := checkServices(p, []string{service}); err != nil {
		return err
	}
	c, err := a.replica(ctx, p, service, o.Index)
	if err != nil {
		return err
	}
	if !running(c) {
		return fmt.Errorf("cannot attach to a stopped container: %s is %s", c.ID, c.State)
	}
	follow := context.WithoutCancel(ctx)
	var exited atomic.Bool
	code := make(chan int, 1)
	go func() {
		n, err := a.Engine.Wait(follow, c.ID)
		if err != nil {
			n = -1
		}
		exited.Store(true)
		code <- n
	}()
	aio := runtime.AttachIO{Out: a.Out, Err: a.Err, DetachKeys: o.DetachKeys}
	if p.Services[service].StdinOpen && !o.NoStdin {
		aio.In = a.In
	}
	output := make(chan error, 1)
	go func() {
		err := a.Engine.AttachStdio(follow, c.ID, aio)
		if !errors.Is(err, runtime.ErrNoStdio) {
			output <- err
			return
		}
		if aio.In != nil {
			output <- fmt.Errorf("service %s: container %s was started without a stdin to attach to (by an older gocompose); recreate it (up --force-recreate) or use --no-stdin", service, c.ID)
			return
		}
		// No stdio socket: follow what the log driver writes.
		output <- a.Engine.ReadLogs(follow, c.ID, runtime.LogOptions{Follow: true, Tail: 0, Since: time.Now(), Done: exited.Load},
			func(e runtime.LogEntry) {
				out := a.Out
				if e.Stream == "stderr" {
					out = a.Err
				}
				fmt.Fprint(out, e.Log)
			})
	}()
	select {
	case <-ctx.Done():
		if !o.SigProxy {
			return nil // detached: the container runs on
		}
		if err := a.Engine.Kill(follow, c.ID, syscall.SIGINT); err != nil {
			return fmt.Errorf("attach %s: send the interrupt: %w", c.ID, err)
		}
		<-output
	case err := <-output:
		if err != nil {
			return err // detached, or the stream failed
		}
	}
	n := <-code
	if n != 0 {
		return &ExitError{Code: n}
	}
	return nil
}
