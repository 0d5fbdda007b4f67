// Package app joins spec, scheduler and runtime: it loads the project,
// observes its containers by label, plans and executes each command.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/secret"
	"github.com/gocompose/gocompose/spec"
	"github.com/gocompose/gocompose/volume"
	"golang.org/x/sync/errgroup"
)

// Version is the gocompose version written into the version label.
var Version = "0.1.0"

// Engine is what app needs from the container runtime; tests may fake it.
type Engine interface {
	Namespace() string
	Create(ctx context.Context, c model.Container) error
	// ResolveImage resolves an image once for the command: digest,
	// config, HEALTHCHECK.
	ResolveImage(ctx context.Context, ref string) (model.Image, error)
	Start(ctx context.Context, id string) error
	CreateTask(ctx context.Context, id string) error
	StartAttached(ctx context.Context, id string, stdio runtime.Stdio) (int, error)
	// AttachStdio connects to a running stdin_open container's stdio
	// (runtime.ErrNoStdio when it has none).
	AttachStdio(ctx context.Context, id string, a runtime.AttachIO) error
	Stop(ctx context.Context, id string, timeout *time.Duration) error
	Remove(ctx context.Context, id string, force bool) error
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	List(ctx context.Context, match map[string]string) ([]runtime.Container, error)
	Inspect(ctx context.Context, id string) (runtime.Container, error)
	// SetLabels sets labels of a container; an empty value removes one.
	SetLabels(ctx context.Context, id string, set map[string]string) error
	Wait(ctx context.Context, id string) (int, error)
	Exec(ctx context.Context, id string, req runtime.ExecRequest) (int, error)
	ReadLogs(ctx context.Context, id string, o runtime.LogOptions, fn func(runtime.LogEntry)) error
	Pids(ctx context.Context, id string) ([]uint32, error)
	LoadImages(ctx context.Context, in io.Reader) ([]string, error)
	ImageID(ctx context.Context, ref string) (string, error)
	ImageUpdated(ctx context.Context, ref string) (time.Time, error)
	Pull(ctx context.Context, ref string, o runtime.PullOptions) error
}

// App runs commands against one engine.
type App struct {
	Engine Engine
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	// LockDir holds the per-project lock files.
	LockDir string
	// Parallel bounds concurrent container operations; <= 0 means the
	// default, four per CPU.
	Parallel int
	// Net puts containers on CNI networks; nil means no bridge networking.
	Net Networker
	// DNS controls the supervisor that answers container names.
	DNS DNSControl
	// StateDir holds runtime files such as network namespaces.
	StateDir string
	// Builder builds images; nil means builds are unavailable.
	Builder Builder
	// RootDir holds persistent data such as named volumes.
	RootDir string

	// Quiet prints no progress lines (--progress quiet, run -q); errors
	// still go to Err.
	Quiet bool
	// JSONProgress prints each progress line as a JSON object with Docker
	// Compose's fields (--progress json).
	JSONProgress bool
	// Display, when set, shows progress live (--progress tty).
	Display Display
	// HideStarts leaves the containers' Starting and Started out of the
	// live display, as Docker Compose's does for every command but start
	// and those run with --detach (an attached up's logs tell it).
	HideStarts bool

	mu sync.Mutex // guards writes to Err from parallel operations

	secretOnce sync.Once
	secrets    *secret.FS

	dry bool // a dry run (DryRun): nothing on the host is changed
	// provided are the variables each provider service set in this
	// command (a run's container gets those of its dependencies).
	provided map[string]providerVars

	volOnce  sync.Once
	volStore *volume.Store
}

// Display is the live progress display (display.TTY).
type Display interface {
	Event(id, status, text string)
	// Progress is the event of a child resource (an image's layer) with
	// the bytes it has done of its total.
	Progress(parent, id, status, text string, current, total int64)
	// Pause and Resume leave the terminal to other output (a build's);
	// Done ends the display, the last state left on screen.
	Pause()
	Resume()
	Done()
}

// ExitError carries a process exit code out of a command (exec, run, up).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// progress prints Docker Compose's plain progress line as v5's plain
// writer does, fmt.Fprintln(out, prefix, id, text, details) with no prefix
// and no details: " Container x Started " (the spaces are Println's).
func (a *App) progress(kind, name, state string) {
	id := name
	if kind != "" {
		id = kind + " " + name
	}
	a.event(id, progressStatus(state), state)
}

// event prints a progress event of the given status (Working, Done,
// Warning, Error) as the chosen display does.
func (a *App) event(id, status, state string) {
	a.emit(progressEvent{ID: id, Status: status, Text: state})
}

// emit prints one progress event as the chosen display does: the live
// display, a JSON line, or Docker Compose's plain line
// fmt.Fprintln(out, prefix, id, text, details).
func (a *App) emit(ev progressEvent) {
	if a.Quiet {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Display != nil {
		if a.HideStarts && (ev.Text == "Starting" || ev.Text == "Started") {
			return
		}
		text := ev.Text
		if ev.Details != "" {
			text += " " + ev.Details
		}
		if ev.ParentID != "" {
			a.Display.Progress(ev.ParentID, ev.ID, ev.Status, text, ev.Current, ev.Total)
		} else {
			a.Display.Event(ev.ID, ev.Status, text)
		}
		return
	}
	if a.JSONProgress {
		ev.DryRun = a.dry
		if details, ok := strings.CutPrefix(ev.Text, "Error "); ok && ev.Status == "Error" && ev.Details == "" {
			ev.Text, ev.Details = "Error", details
		}
		b, _ := json.Marshal(ev) // strings and numbers only: cannot fail
		fmt.Fprintf(a.Err, "%s\n", b)
		return
	}
	prefix := ""
	if a.dry {
		prefix = DryRunPrefix
	}
	fmt.Fprintln(a.Err, prefix, ev.ID, ev.Text, ev.Details)
}

// progressEvent is one line of --progress json, with Docker Compose's keys.
type progressEvent struct {
	DryRun   bool   `json:"dry-run,omitempty"`
	ID       string `json:"id,omitempty"`
	ParentID string `json:"parent_id,omitempty"`
	Status   string `json:"status,omitempty"`
	Text     string `json:"text,omitempty"`
	Details  string `json:"details,omitempty"`
	Current  int64  `json:"current,omitempty"`
	Total    int64  `json:"total,omitempty"`
	Percent  int    `json:"percent,omitempty"`
}

// progressStatus classes a progress text as Docker Compose's events do:
// Working while in progress ("Creating"), Warning, or Done.
func progressStatus(text string) string {
	switch {
	case text == "Resource is still in use" || text == "No resource found to remove" || text == "Skipped":
		return "Warning"
	case text == "Error" || strings.HasPrefix(text, "Error "):
		return "Error"
	case strings.HasSuffix(text, "ing") || strings.HasPrefix(text, "Waiting"):
		return "Working"
	}
	return "Done"
}

func (a *App) warn(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.Err, "WARN[0000] "+format+"\n", args...)
}

// observe lists the project's containers; oneoff selects run containers.
func (a *App) observe(ctx context.Context, project string, oneoff *bool) ([]runtime.Container, error) {
	match := map[string]string{labels.Project: project}
	if oneoff != nil {
		match[labels.OneOff] = boolLabel(*oneoff)
	}
	return a.Engine.List(ctx, match)
}

func boolLabel(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// no is addressable false, for observe's oneoff filter.
var no = false

// containerNumber reads the container-number label.
func containerNumber(c runtime.Container) int {
	n, _ := strconv.Atoi(c.Labels[labels.ContainerNumber])
	return n
}

// serviceContainers checks the service names and returns their containers
// (all of the project's when none are named); oneoff as for observe.
func (a *App) serviceContainers(ctx context.Context, p *types.Project, services []string, oneoff *bool) ([]runtime.Container, error) {
	if err := checkServices(p, services); err != nil {
		return nil, err
	}
	cs, err := a.observe(ctx, p.Name, oneoff)
	if err != nil {
		return nil, err
	}
	return selectContainers(cs, services), nil
}

// selectContainers keeps containers of the named services (all when none).
func selectContainers(cs []runtime.Container, services []string) []runtime.Container {
	if len(services) == 0 {
		return cs
	}
	var out []runtime.Container
	for _, c := range cs {
		if slices.Contains(services, c.Labels[labels.Service]) {
			out = append(out, c)
		}
	}
	return out
}

// checkServices errors on a service name the project does not define.
func checkServices(p *types.Project, services []string) error {
	if p == nil || len(p.Services) == 0 {
		return nil
	}
	for _, s := range services {
		if _, ok := p.Services[s]; !ok {
			if _, disabled := p.DisabledServices[s]; disabled {
				return fmt.Errorf("service %q is not enabled by the active profiles", s)
			}
			return fmt.Errorf("no such service: %s", s)
		}
	}
	return nil
}

// dependsOnLabel renders depends_on as Docker Compose does:
// service:condition:restart, comma-separated, sorted.
func dependsOnLabel(svc types.ServiceConfig) string {
	var parts []string
	for name, d := range svc.DependsOn {
		parts = append(parts, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// limit is how many container operations may run at once.
func (a *App) limit() int {
	if a.Parallel > 0 {
		return a.Parallel
	}
	return 4 * goruntime.NumCPU()
}

// parallel runs fn for each item with at most a.Parallel at once and returns
// the first error (all items still run).
func (a *App) parallel(n int, fn func(i int) error) error {
	return eachLimited(n, a.limit(), fn)
}

// eachLimited runs fn for 0..n-1, at most limit at once (no bound when
// limit <= 0), and returns the error of the lowest index that failed, so
// what is reported does not depend on timing. Every fn runs.
func eachLimited(n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i := range n {
		g.Go(func() error { errs[i] = fn(i); return nil })
	}
	_ = g.Wait() // the errors are in errs
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// selectServices narrows the project to the named services (all when none
// are named), with their dependencies when withDeps.
func selectServices(p *types.Project, services []string, withDeps bool) (*types.Project, error) {
	sel := p
	if len(services) > 0 {
		var opts []types.DependencyOption
		if !withDeps {
			opts = append(opts, types.IgnoreDependencies)
		}
		var err error
		if sel, err = p.WithSelectedServices(services, opts...); err != nil {
			return nil, err
		}
	}
	// An env_file missing for a service outside the selection was no error
	// at load; for one inside it is now.
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		if err := spec.EnvError(sel.Services[name]); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// replica returns the service's container number index (the first when
// index <= 0), run containers left out, for commands that act on one
// replica (exec, export, commit).
func (a *App) replica(ctx context.Context, p *types.Project, service string, index int) (runtime.Container, error) {
	cs, err := a.serviceContainers(ctx, p, []string{service}, &no)
	if err != nil {
		return runtime.Container{}, err
	}
	index = max(index, 1)
	for _, c := range cs {
		if containerNumber(c) == index {
			return c, nil
		}
	}
	return runtime.Container{}, fmt.Errorf("service %q has no container number %d", service, index)
}
