package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/fsnotify/fsnotify"
	"github.com/gocompose/gocompose/internal/cp"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// WatchOptions are `watch`'s flags (and up --watch's).
type WatchOptions struct {
	Services []string
	NoUp     bool // do not up first
	Quiet    bool // no build output
}

// quietPeriod is how long file events must stop before a batch is handled,
// as Docker Compose debounces an editor saving many files.
const quietPeriod = 500 * time.Millisecond

// watchRule is one develop.watch trigger with its matchers.
type watchRule struct {
	types.Trigger
	service string
	include *patternmatcher.PatternMatcher // nil: everything
	ignore  []*patternmatcher.PatternMatcher
	// dockerignore matches paths relative to the build context.
	dockerignore *patternmatcher.PatternMatcher
	context      string
}

// pathMapping is one changed host path and where it goes in the container.
type pathMapping struct{ host, container string }

// matches maps a changed host path by the rule (nil when it does not apply).
func (r watchRule) matches(p string) *pathMapping {
	rel, err := filepath.Rel(r.Path, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil
	}
	if rel != "." && r.include != nil {
		if ok, _ := r.include.MatchesOrParentMatches(rel); !ok {
			return nil
		}
	}
	for _, m := range r.ignore {
		if ok, _ := m.MatchesOrParentMatches(rel); ok && rel != "." {
			return nil
		}
	}
	if r.dockerignore != nil {
		if crel, err := filepath.Rel(r.context, p); err == nil && !strings.HasPrefix(crel, "..") && crel != "." {
			if ok, _ := r.dockerignore.MatchesOrParentMatches(crel); ok {
				return nil
			}
		}
	}
	target := r.Target
	if rel != "." {
		target = path.Join(r.Target, filepath.ToSlash(rel))
	}
	return &pathMapping{host: p, container: target}
}

// ephemeral are the files editors write beside the ones they save, which
// Docker Compose never syncs.
var ephemeral = []string{".git", "**/.git", "**/*.swp", "**/*.swx", "**/*~", "**/.#*", "**/#*#", "**/4913", "**/.DS_Store"}

func watchRules(svc types.ServiceConfig) ([]watchRule, error) {
	var base []*patternmatcher.PatternMatcher
	if m, err := patternmatcher.New(ephemeral); err == nil {
		base = append(base, m)
	}
	var dockerignore *patternmatcher.PatternMatcher
	var context string
	if b := svc.Build; b != nil {
		if f, err := os.Open(filepath.Join(b.Context, ".dockerignore")); err == nil {
			pats, err := ignorefile.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("service %s: .dockerignore: %w", svc.Name, err)
			}
			if dockerignore, err = patternmatcher.New(pats); err != nil {
				return nil, fmt.Errorf("service %s: .dockerignore: %w", svc.Name, err)
			}
			context = b.Context
		}
	}
	var out []watchRule
	for _, t := range svc.Develop.Watch {
		r := watchRule{Trigger: t, service: svc.Name, ignore: base, dockerignore: dockerignore, context: context}
		if len(t.Ignore) > 0 {
			m, err := patternmatcher.New(t.Ignore)
			if err != nil {
				return nil, fmt.Errorf("service %s: develop.watch ignore: %w", svc.Name, err)
			}
			r.ignore = append(slices.Clone(base), m)
		}
		if len(t.Include) > 0 {
			m, err := patternmatcher.New(t.Include)
			if err != nil {
				return nil, fmt.Errorf("service %s: develop.watch include: %w", svc.Name, err)
			}
			r.include = m
		}
		out = append(out, r)
	}
	return out, nil
}

func isSync(a types.WatchAction) bool {
	return a == types.WatchActionSync || a == types.WatchActionSyncRestart || a == types.WatchActionSyncExec
}

// Watch runs the services (unless NoUp) and then follows their
// develop.watch paths until ctx ends: sync copies changed files into the
// running containers (and removes deleted ones), restart restarts the
// service, sync+restart and sync+exec do both, rebuild builds the image and
// recreates the service. Events are handled in batches once files stop
// changing for half a second.
func (a *App) Watch(ctx context.Context, p *types.Project, o WatchOptions) error {
	q, rules, err := a.watchRulesOf(p, o.Services)
	if err != nil {
		return err
	}
	if !o.NoUp {
		if err := a.Up(ctx, q, UpOptions{Services: o.Services, Detach: true, QuietBuild: o.Quiet}); err != nil {
			return err
		}
	}
	return a.follow(ctx, q, rules, o)
}

// watchRulesOf checks the services' develop sections and returns their
// rules, with the project whose watched builds are always built.
func (a *App) watchRulesOf(p *types.Project, services []string) (*types.Project, []watchRule, error) {
	if err := checkServices(p, services); err != nil {
		return nil, nil, err
	}
	names := services
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(p.Services))
	}
	var rules []watchRule
	q := *p
	q.Services = maps.Clone(p.Services)
	for _, name := range names {
		svc := q.Services[name]
		if svc.Develop == nil {
			continue
		}
		for _, t := range svc.Develop.Watch {
			if t.Action == types.WatchActionRebuild && svc.Build == nil {
				return nil, nil, fmt.Errorf("can't watch service %q with action %s without a build context", name, t.Action)
			}
		}
		if svc.Build != nil {
			svc.PullPolicy = types.PullPolicyBuild // watch builds what it watches
			q.Services[name] = svc
		}
		rs, err := watchRules(svc)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rs {
			if isSync(r.Action) && boundByVolume(r.Path, svc) {
				a.warn("path '%s' also declared by a bind mount volume, this path won't be monitored!", r.Path)
				continue
			}
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return nil, nil, errors.New("none of the selected services is configured for watch, consider setting a 'develop' section")
	}
	return &q, rules, nil
}

// follow syncs what initial_sync asks for, then handles file events until
// ctx ends.
func (a *App) follow(ctx context.Context, q *types.Project, rules []watchRule, o WatchOptions) error {
	for _, r := range rules {
		if r.InitialSync && isSync(r.Action) {
			if err := a.syncFiles(ctx, q, r.service, []pathMapping{{host: r.Path, container: r.Target}}); err != nil {
				return err
			}
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	for _, r := range rules {
		if err := addTree(w, r.Path); err != nil {
			return fmt.Errorf("watch %s: %w", r.Path, err)
		}
	}
	fmt.Fprintln(a.Out, "Watch enabled")
	pending := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(a.Out, "Watch disabled")
			return nil
		case err := <-w.Errors:
			if err != nil {
				fmt.Fprintf(a.Err, "Watch disabled with errors: %v\n", err)
				return err
			}
		case ev := <-w.Events:
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					_ = addTree(w, ev.Name) // a new directory is watched too
				}
			}
			pending[ev.Name] = true
			timer.Reset(quietPeriod)
		case <-timer.C:
			batch := slices.Sorted(maps.Keys(pending))
			clear(pending)
			if err := a.handleWatchBatch(ctx, q, rules, batch, o); err != nil {
				if ctx.Err() != nil {
					fmt.Fprintln(a.Out, "Watch disabled")
					return nil
				}
				a.warn("Error handling changed files: %v", err)
			}
		}
	}
}

// boundByVolume: a sync path that a bind mount already shares needs no sync.
func boundByVolume(p string, svc types.ServiceConfig) bool {
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind {
			if rel, err := filepath.Rel(v.Source, p); err == nil && !strings.HasPrefix(rel, "..") {
				return true
			}
		}
	}
	return false
}

// addTree watches a directory and every directory under it (fsnotify is
// not recursive); a file is watched through its directory.
func addTree(w *fsnotify.Watcher, root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return w.Add(filepath.Dir(root))
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return w.Add(p)
		}
		return nil
	})
}

// handleWatchBatch applies one batch of changes, as Docker Compose does:
// rebuilds first, then syncs, then restarts, then sync+exec commands.
func (a *App) handleWatchBatch(ctx context.Context, p *types.Project, rules []watchRule, batch []string, o WatchOptions) error {
	rebuild, restart := map[string]bool{}, map[string]bool{}
	syncs := map[string][]pathMapping{}
	execs := map[string][]types.ServiceHook{}
	for _, f := range batch {
		for _, r := range rules {
			m := r.matches(f)
			if m == nil {
				continue
			}
			switch r.Action {
			case types.WatchActionRebuild:
				rebuild[r.service] = true
			case types.WatchActionRestart:
				restart[r.service] = true
			case types.WatchActionSync:
				syncs[r.service] = append(syncs[r.service], *m)
			case types.WatchActionSyncRestart:
				syncs[r.service] = append(syncs[r.service], *m)
				restart[r.service] = true
			case types.WatchActionSyncExec:
				syncs[r.service] = append(syncs[r.service], *m)
				if !slices.ContainsFunc(execs[r.service], func(h types.ServiceHook) bool { return slices.Equal(h.Command, r.Exec.Command) }) {
					execs[r.service] = append(execs[r.service], r.Exec)
				}
			}
		}
	}
	if len(rebuild) > 0 {
		services := slices.Sorted(maps.Keys(rebuild))
		fmt.Fprintf(a.Out, "Rebuilding service(s) %q after changes were detected...\n", services)
		if err := a.buildServices(ctx, p, services, BuildOptions{Quiet: o.Quiet}); err != nil {
			fmt.Fprintf(a.Out, "Build failed. Error: %v\n", err)
			return err
		}
		fmt.Fprintf(a.Out, "service(s) %q successfully built\n", services)
		// Built just now: the recreate does not build again.
		if err := a.Up(ctx, p, UpOptions{Services: services, NoDeps: true, ForceRecreate: true, Detach: true, NoBuild: true}); err != nil {
			fmt.Fprintf(a.Out, "Failed to recreate services after update. Error: %v\n", err)
			return err
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(syncs)) {
		fmt.Fprintf(a.Out, "Syncing service %q after %d changes were detected\n", svc, len(syncs[svc]))
		if err := a.syncFiles(ctx, p, svc, syncs[svc]); err != nil {
			return err
		}
	}
	if len(restart) > 0 {
		services := slices.Sorted(maps.Keys(restart))
		if err := a.Restart(ctx, p, services, nil, false); err != nil {
			return err
		}
		fmt.Fprintf(a.Out, "service(s) %q restarted\n", services)
	}
	for _, svc := range slices.Sorted(maps.Keys(execs)) {
		cs, err := a.runningOf(ctx, p, svc)
		if err != nil {
			return err
		}
		for _, c := range cs {
			for _, h := range execs[svc] {
				if err := a.runHook(ctx, c, h, "sync+exec"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (a *App) runningOf(ctx context.Context, p *types.Project, service string) ([]runtime.Container, error) {
	cs, err := a.Engine.List(ctx, map[string]string{labels.Project: p.Name, labels.Service: service, labels.OneOff: boolLabel(false)})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cs, func(c runtime.Container) bool { return c.State != runtime.StateRunning }), nil
}

// syncFiles copies each changed host path into the service's running
// containers, or removes it there when it is gone from the host. Paths in
// the container are resolved inside its root, so a symlink there never
// leads a copy or a removal onto the host.
func (a *App) syncFiles(ctx context.Context, p *types.Project, service string, ms []pathMapping) error {
	fsys, ok := a.Engine.(rootFS)
	if !ok {
		return errors.New("watch sync is not available with this engine")
	}
	cs, err := a.runningOf(ctx, p, service)
	if err != nil {
		return err
	}
	for _, c := range cs {
		err := fsys.WithRootFS(ctx, c.ID, func(root string) error {
			for _, m := range ms {
				dst, err := securejoin.SecureJoin(root, m.container)
				if err != nil {
					return err
				}
				fi, err := os.Stat(m.host)
				if errors.Is(err, os.ErrNotExist) {
					if err := os.RemoveAll(dst); err != nil {
						return fmt.Errorf("remove %s in %s: %w", m.container, c.ID, err)
					}
					continue
				}
				if err != nil {
					return err
				}
				parent := path.Dir(m.container)
				if fi.IsDir() {
					parent = m.container
				}
				pdir, err := securejoin.SecureJoin(root, parent)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(pdir, 0o755); err != nil {
					return err
				}
				src, dstPath := m.host, m.container
				if fi.IsDir() {
					src, dstPath = m.host+"/.", m.container // the directory's contents
				}
				if err := cp.Copy(cp.Side{Root: "/", Path: src}, cp.Side{Root: root, Path: dstPath}, cp.Options{Archive: true}); err != nil {
					return fmt.Errorf("sync %s to %s:%s: %w", m.host, c.ID, m.container, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
