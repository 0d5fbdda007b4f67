package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Graph is a dependency graph: each node with the nodes that must finish
// before it. Dependencies that are not nodes of the graph are ignored.
type Graph map[string][]string

// Deps is what a running node knows of the others.
type Deps struct {
	r    *run
	node string
}

// DependencyError says a node did not run on because a dependency failed.
type DependencyError struct {
	Node, Dep string
	Err       error
}

func (e *DependencyError) Error() string {
	return fmt.Sprintf("service %s not started: dependency %s failed: %v", e.Node, e.Dep, e.Err)
}

func (e *DependencyError) Unwrap() error { return e.Err }

type run struct {
	g     Graph
	mu    sync.Mutex // guards errs and marks
	done  map[string]chan struct{}
	errs  map[string]error
	marks map[string]map[string]chan struct{} // node -> milestone -> closed when reached
	ctx   context.Context
}

// Walk runs fn for every node of g, each in its own goroutine: independent
// nodes run in parallel, and a node waits for its dependencies where fn
// chooses (Deps.Wait), so work that needs none of them — creating
// containers ahead — overlaps theirs. It returns each node's error (nil
// entries for success), and is the one executor of every command that
// walks services in dependency order (up, start, restart, stop, down).
// A cycle must have been refused before (TopoSort); Walk would wait on it
// until ctx ends.
func Walk(ctx context.Context, g Graph, fn func(ctx context.Context, node string, d Deps) error) map[string]error {
	r := &run{g: g, done: map[string]chan struct{}{}, errs: map[string]error{},
		marks: map[string]map[string]chan struct{}{}, ctx: ctx}
	for n := range g {
		r.done[n] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for n := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx, n, Deps{r: r, node: n})
			r.mu.Lock()
			r.errs[n] = err
			r.mu.Unlock()
			close(r.done[n])
		}()
	}
	wg.Wait()
	return r.errs
}

// Wait blocks until every dependency of the node finished, in name order,
// and returns a *DependencyError for the first that failed; ctx's error if
// it ends first. A caller that goes on whatever its dependencies did (stop,
// down) ignores the DependencyError.
func (d Deps) Wait() error {
	deps := slices.Sorted(slices.Values(d.r.g[d.node]))
	var first error
	for _, dep := range deps {
		ch, ok := d.r.done[dep]
		if !ok || dep == d.node {
			continue
		}
		select {
		case <-ch:
		case <-d.r.ctx.Done():
			return d.r.ctx.Err()
		}
		d.r.mu.Lock()
		err := d.r.errs[dep]
		d.r.mu.Unlock()
		if err != nil && first == nil {
			first = &DependencyError{Node: d.node, Dep: dep, Err: err}
		}
	}
	return first
}

// Mark tells the nodes awaiting it that this node reached milestone
// (for example "created").
func (d Deps) Mark(milestone string) {
	ch := d.r.milestone(d.node, milestone)
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	select {
	case <-ch: // marked before
	default:
		close(ch)
	}
}

// Await blocks until node reached milestone or finished, whichever is
// first; a node not in the graph (or this one) is not waited for.
func (d Deps) Await(node, milestone string) error {
	done, ok := d.r.done[node]
	if !ok || node == d.node {
		return nil
	}
	select {
	case <-d.r.milestone(node, milestone):
	case <-done:
	case <-d.r.ctx.Done():
		return d.r.ctx.Err()
	}
	return nil
}

func (r *run) milestone(node, name string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.marks[node]
	if m == nil {
		m = map[string]chan struct{}{}
		r.marks[node] = m
	}
	ch, ok := m[name]
	if !ok {
		ch = make(chan struct{})
		m[name] = ch
	}
	return ch
}

// FirstError returns the error of the first node, in order, that failed.
func FirstError(order []string, errs map[string]error) error {
	for _, n := range order {
		if err := errs[n]; err != nil {
			return err
		}
	}
	return nil
}
