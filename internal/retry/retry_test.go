package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	first, later := errors.New("first"), errors.New("later")
	calls := 0
	err := Do(context.Background(), 3, time.Millisecond, func() error {
		calls++
		if calls == 1 {
			return first
		}
		return later
	})
	if !errors.Is(err, first) || calls != 3 {
		t.Errorf("all failing: %v after %d calls, want the first error after 3", err, calls)
	}
	calls = 0
	if err := Do(context.Background(), 5, time.Millisecond, func() error {
		calls++
		if calls < 2 {
			return first
		}
		return nil
	}); err != nil || calls != 2 {
		t.Errorf("second call succeeds: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Do(ctx, 5, time.Hour, func() error { return first }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
