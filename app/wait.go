package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sync/errgroup"
)

// Wait blocks until every container of the services has stopped (run
// containers included) and returns the exit code of the last one, as
// `docker compose wait` does; downProject then takes the project down.
func (a *App) Wait(ctx context.Context, p *types.Project, services []string, downProject bool) error {
	if len(services) == 0 {
		return fmt.Errorf("wait needs at least one service")
	}
	cs, err := a.serviceContainers(ctx, p, services, nil)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("no containers for project %q", p.Name)
	}
	// Every selected container is waited for, each exit printed as Docker
	// Compose prints it; the last one's code is the command's.
	var mu sync.Mutex // guards code and the output's order
	code := 0
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() error {
			n, err := a.Engine.Wait(gctx, c.ID)
			if err != nil {
				return fmt.Errorf("wait %s: %w", c.ID, err)
			}
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(a.Out, "container %q exited with status code %d\n", instanceID(c), n)
			code = n
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if downProject {
		if err := a.Down(ctx, p, DownOptions{RemoveOrphans: true}); err != nil {
			return err
		}
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
