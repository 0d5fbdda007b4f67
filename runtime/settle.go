package runtime

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/gocompose/gocompose/internal/lock"
	"github.com/gocompose/gocompose/internal/paths"
)

// settle is how long a new task must wait after a task of the same ID was
// deleted. containerd 1.6 runs `shim delete` for a closed shim
// asynchronously, and that command force-deletes whatever runc container
// then has the ID: a new task created within that window is killed (seen
// as "cannot start a container that has stopped"). One second was always
// enough here; 150 ms was not.
const settle = time.Second

// recent records task deletions host-wide (in one small file, entries
// expire after a few seconds) so that any process about to create a task of
// the same ID can wait out the window.
func recentPath() string { return filepath.Join(paths.State(), "recent-task-deletes.json") }

func withRecent(ctx context.Context, fn func(m map[string]time.Time)) {
	l, err := lock.Project(ctx, paths.Locks(), "recent-task-deletes")
	if err != nil {
		return
	}
	defer l.Unlock()
	m := map[string]time.Time{}
	if b, err := os.ReadFile(recentPath()); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	fn(m)
	for k, t := range m {
		if time.Since(t) > 5*time.Second {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(m)
	_ = os.MkdirAll(filepath.Dir(recentPath()), 0o700)
	_ = os.WriteFile(recentPath(), b, 0o600)
}

// noteTaskDeleted records that a task of id was just deleted.
func (r *Runtime) noteTaskDeleted(ctx context.Context, id string) {
	withRecent(ctx, func(m map[string]time.Time) { m[r.namespace+"/"+id] = time.Now() })
}

// waitSettled waits out the window after a recent deletion of id's task,
// and for any shim process of id to be gone.
func (r *Runtime) waitSettled(ctx context.Context, id string) error {
	var at time.Time
	withRecent(ctx, func(m map[string]time.Time) { at = m[r.namespace+"/"+id] })
	if at.IsZero() {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if time.Since(at) >= settle && !shimRunning(r.namespace, id) {
			return nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
