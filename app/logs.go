package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/logdriver"
	"github.com/gocompose/gocompose/runtime"
)

// LogFormat shapes log lines as `docker compose logs` does.
type LogFormat struct {
	NoColor      bool
	NoPrefix     bool
	Timestamps   bool
	ColorCapable bool // the output is a terminal
}

// LogsOptions are the flags of `logs`.
type LogsOptions struct {
	Services []string
	Follow   bool
	Tail     int // <0: all
	Since    time.Time
	Until    time.Time
	Format   LogFormat
	// Index selects one replica of the one named service (0: all).
	Index int
}

// Docker Compose's palette for service prefixes.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

type formatter struct {
	a      *App
	format LogFormat
	width  int
	colors map[string]string
	mu     sync.Mutex // serialises whole lines
}

// prefixName is the prefix Docker Compose prints: service-N, or the
// container name for one-off and named containers.
func prefixName(c runtime.Container) string {
	svc, n := c.Labels[labels.Service], c.Labels[labels.ContainerNumber]
	if svc == "" || c.Labels[labels.OneOff] == "True" {
		return c.ID
	}
	return svc + "-" + n
}

func newFormatter(a *App, cs []runtime.Container, f LogFormat) *formatter {
	fm := &formatter{a: a, format: f, colors: map[string]string{}}
	for i, c := range cs {
		name := prefixName(c)
		if len(name) > fm.width {
			fm.width = len(name)
		}
		fm.colors[c.ID] = palette[i%len(palette)]
	}
	return fm
}

func (f *formatter) prefix(c runtime.Container) string {
	if f.format.NoPrefix {
		return ""
	}
	p := fmt.Sprintf("%-*s | ", f.width, prefixName(c))
	if f.format.ColorCapable && !f.format.NoColor {
		p = "\x1b[" + f.colors[c.ID] + "m" + p + "\x1b[0m"
	}
	return p
}

func (f *formatter) print(c runtime.Container, e runtime.LogEntry) {
	line := strings.TrimSuffix(e.Log, "\n")
	if f.format.Timestamps {
		line = e.Time.Format(time.RFC3339Nano) + " " + line
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.a.Out, "%s%s\n", f.prefix(c), line)
}

func (f *formatter) exited(c runtime.Container, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.a.Out, "%s exited with code %d\n", prefixName(c), code)
}

// Logs prints the logs of the project's containers, following them with -f.
func (a *App) Logs(ctx context.Context, p *types.Project, o LogsOptions) error {
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	cs, err := a.observe(ctx, p.Name, nil)
	if err != nil {
		return err
	}
	cs = selectContainers(cs, o.Services)
	if o.Index > 0 {
		cs = slices.DeleteFunc(cs, func(c runtime.Container) bool {
			return containerNumber(c) != o.Index || c.Labels[labels.OneOff] == "True"
		})
		if len(cs) == 0 {
			return fmt.Errorf("service %q has no container number %d", o.Services[0], o.Index)
		}
	}
	f := newFormatter(a, cs, o.Format)
	// Every follower at once: they must not wait for each other.
	return eachLimited(len(cs), 0, func(i int) error {
		c := cs[i]
		lo := runtime.LogOptions{Follow: o.Follow, Tail: o.Tail, Since: o.Since, Until: o.Until}
		if o.Follow {
			lo.Done = func() bool {
				cur, err := a.Engine.Inspect(context.WithoutCancel(ctx), c.ID)
				return err != nil || cur.State != runtime.StateRunning && cur.State != runtime.StatePaused
			}
		}
		err := a.Engine.ReadLogs(ctx, c.ID, lo, func(e runtime.LogEntry) { f.print(c, e) })
		if errors.Is(err, runtime.ErrLogsNotReadable) {
			a.warn("Can't retrieve logs for %q: %s", c.ID, err) // as Docker Compose
			return nil
		}
		if ctx.Err() != nil {
			return nil // Ctrl-C ends a follow; that is not an error
		}
		return err
	})
}

// entryLines cuts a stream into log entries as the log driver cuts lines.
func entryLines(stream string, fn func(runtime.LogEntry)) *logdriver.Lines {
	return &logdriver.Lines{Emit: func(b []byte) {
		fn(runtime.LogEntry{Log: string(b), Stream: stream, Time: time.Now()})
	}}
}
