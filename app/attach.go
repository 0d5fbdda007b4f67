package app

import (
	"context"
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
}

// Attach follows a running service container's output from now on,
// stdout to Out and stderr to Err, until the container exits; its exit
// code is the command's. With SigProxy, an interrupt (ctx ending) is sent
// on to the container as SIGINT and the output followed on until it
// exits; without, gocompose leaves and the container keeps running.
// The container's stdin is never attached: a service with stdin_open is
// refused unless NoStdin says it need not be.
func (a *App) Attach(ctx context.Context, p *types.Project, service string, o AttachOptions) error {
	if err := checkServices(p, []string{service}); err != nil {
		return err
	}
	if p.Services[service].StdinOpen && !o.NoStdin {
		return fmt.Errorf("service %s: attaching stdin is not supported by gocompose; use --no-stdin to follow its output", service)
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
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- a.Engine.ReadLogs(follow, c.ID, runtime.LogOptions{Follow: true, Tail: 0, Since: time.Now(), Done: exited.Load},
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
		<-logsDone
	case <-logsDone:
	}
	n := <-code
	if n != 0 {
		return &ExitError{Code: n}
	}
	return nil
}
