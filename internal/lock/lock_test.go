package lock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestProjectLockIsPerProject(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	a, err := Project(ctx, dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another project is not blocked.
	b, err := Project(ctx, dir, "b")
	if err != nil {
		t.Fatalf("other project blocked: %v", err)
	}
	defer b.Unlock()
	// The same project waits until the holder releases.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := Project(short, dir, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a: got %v, want deadline exceeded", err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := Project(ctx, dir, "a")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again.Unlock()
}
