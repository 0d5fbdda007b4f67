package app

import (
	"context"
	"fmt"
	"sync/atomic"
)

// A DNS batch collects the supervisor reloads that creates and removals
// ask for while it is open, and makes one when it is flushed: up reloads
// once per service step (before the step's containers start, so their
// names resolve for their dependents), down once at the end, instead of
// once per container.
type dnsBatch struct{ pending atomic.Bool }

type dnsBatchKey struct{}

// withDNSBatch opens a batch on ctx.
func withDNSBatch(ctx context.Context) (context.Context, *dnsBatch) {
	b := &dnsBatch{}
	return context.WithValue(ctx, dnsBatchKey{}, b), b
}

// reloadDNS makes the supervisor reload its records now, or marks ctx's
// batch for reloading.
func (a *App) reloadDNS(ctx context.Context) error {
	if a.DNS == nil {
		return nil
	}
	if b, ok := ctx.Value(dnsBatchKey{}).(*dnsBatch); ok {
		b.pending.Store(true)
		return nil
	}
	if err := a.DNS.Reload(ctx); err != nil {
		return fmt.Errorf("update DNS: %w", err)
	}
	return nil
}

// flush makes the one reload the batch collected, if any.
func (b *dnsBatch) flush(ctx context.Context, a *App) error {
	if !b.pending.Swap(false) || a.DNS == nil {
		return nil
	}
	if err := a.DNS.Reload(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("update DNS: %w", err)
	}
	return nil
}
