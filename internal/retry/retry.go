// Package retry runs an operation again after a pause while it fails: the
// one retry loop of gocompose, for the transient failures containerd 1.6
// shows right after a shim went away.
package retry

import (
	"context"
	"time"
)

// Do calls fn up to attempts times, pausing wait between calls, until it
// returns nil. When every attempt fails it returns the first error (later
// ones are usually its echoes); a cancelled ctx returns ctx.Err().
func Do(ctx context.Context, attempts int, wait time.Duration, fn func() error) error {
	var first error
	for i := range max(attempts, 1) {
		err := fn()
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
		if i == attempts-1 {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}
