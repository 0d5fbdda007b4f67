package app

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// Wait blocks until the services' containers stop and returns the exit
// code of the first one to exit, as `docker compose wait` does.
func (a *App) Wait(ctx context.Context, p *types.Project, services []string) error {
	if len(services) == 0 {
		return fmt.Errorf("wait needs at least one service")
	}
	cs, err := a.serviceContainers(ctx, p, services, &no)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("no containers for %v", services)
	}
	type exit struct {
		code int
		err  error
	}
	first := make(chan exit, len(cs))
	for _, c := range cs {
		go func() {
			code, err := a.Engine.Wait(ctx, c.ID)
			first <- exit{code, err}
		}()
	}
	e := <-first
	if e.err != nil {
		return e.err
	}
	fmt.Fprintln(a.Out, e.code)
	if e.code != 0 {
		return &ExitError{Code: e.code}
	}
	return nil
}
