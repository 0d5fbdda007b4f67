package scheduler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder keeps the order events happened in.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) before(a, b string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, j := slices.Index(r.events, a), slices.Index(r.events, b)
	return i >= 0 && j >= 0 && i < j
}

func TestWalkOrdersAndOverlaps(t *testing.T) {
	g := Graph{"db": nil, "cache": nil, "web": {"db", "cache"}, "worker": {"db", "absent"}}
	var rec recorder
	errs := Walk(context.Background(), g, func(ctx context.Context, n string, d Deps) error {
		rec.add("prepare " + n) // before waiting: overlaps the dependencies
		if err := d.Wait(); err != nil {
			return err
		}
		rec.add("run " + n)
		return nil
	})
	if err := FirstError([]string{"cache", "db", "web", "worker"}, errs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][2]string{{"run db", "run web"}, {"run cache", "run web"}, {"run db", "run worker"}} {
		if !rec.before(tc[0], tc[1]) {
			t.Errorf("%s not before %s: %v", tc[0], tc[1], rec.events)
		}
	}
	if len(rec.events) != 8 {
		t.Errorf("events %v", rec.events)
	}
}

func TestWalkFailedDependency(t *testing.T) {
	boom := errors.New("boom")
	g := Graph{"db": nil, "web": {"db"}, "proxy": {"web"}, "other": nil}
	ran := map[string]bool{}
	var mu sync.Mutex
	errs := Walk(context.Background(), g, func(ctx context.Context, n string, d Deps) error {
		if err := d.Wait(); err != nil {
			return err
		}
		mu.Lock()
		ran[n] = true
		mu.Unlock()
		if n == "db" {
			return boom
		}
		return nil
	})
	var de *DependencyError
	if !errors.As(errs["web"], &de) || de.Dep != "db" || !errors.Is(errs["web"], boom) {
		t.Errorf("web: %v", errs["web"])
	}
	if errs["web"].Error() != "service web not started: dependency db failed: boom" {
		t.Errorf("message: %v", errs["web"])
	}
	// The failure propagates: proxy's dependency web failed in turn.
	if !errors.As(errs["proxy"], &de) || de.Dep != "web" {
		t.Errorf("proxy: %v", errs["proxy"])
	}
	if ran["web"] || ran["proxy"] || !ran["other"] {
		t.Errorf("ran %v", ran)
	}
	if FirstError([]string{"db", "web"}, errs) != boom {
		t.Error("first error is not db's")
	}
}

// A walk that goes on whatever its dependencies did (stop, down) ignores
// the DependencyError and still keeps the order.
func TestWalkLenient(t *testing.T) {
	g := Graph{"web": {"db"}, "db": nil}
	var rec recorder
	errs := Walk(context.Background(), g, func(ctx context.Context, n string, d Deps) error {
		_ = d.Wait()
		rec.add(n)
		if n == "db" {
			return errors.New("stop failed")
		}
		return nil
	})
	if errs["web"] != nil || !rec.before("db", "web") {
		t.Errorf("lenient walk: %v %v", errs, rec.events)
	}
}

func TestWalkMilestones(t *testing.T) {
	// app waits for db to be created (not done) before its own create.
	g := Graph{"db": nil, "app": nil}
	var rec recorder
	Walk(context.Background(), g, func(ctx context.Context, n string, d Deps) error {
		switch n {
		case "db":
			time.Sleep(20 * time.Millisecond)
			rec.add("db created")
			d.Mark("created")
			d.Mark("created") // twice is harmless
			time.Sleep(50 * time.Millisecond)
			rec.add("db done")
		case "app":
			if err := d.Await("db", "created"); err != nil {
				return err
			}
			rec.add("app created")
			_ = d.Await("nobody", "created") // not in the graph: no wait
		}
		return nil
	})
	if !rec.before("db created", "app created") || !rec.before("app created", "db done") {
		t.Errorf("milestones: %v", rec.events)
	}
}

func TestWalkCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := Graph{"db": nil, "web": {"db"}}
	errs := Walk(ctx, g, func(ctx context.Context, n string, d Deps) error {
		if n == "db" {
			cancel()
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		return d.Wait()
	})
	if !errors.Is(errs["web"], context.Canceled) {
		t.Errorf("web after cancel: %v", errs["web"])
	}
}
