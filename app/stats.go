package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/runtime"
	"golang.org/x/term"
)

// statser samples a container's resource use; the runtime implements it.
type statser interface {
	Stats(ctx context.Context, id string) (runtime.Stats, error)
}

// StatsOptions are `stats`' flags.
type StatsOptions struct {
	All      bool   // stopped containers too
	NoStream bool   // one table, then exit
	Format   string // "table" (default), "json", or a Go template ("table TEMPLATE")
	Interval time.Duration
	NoTrunc  bool // whole 64-hex IDs
}

// statsRow is one line of `stats`, with docker stats' JSON keys.
type statsRow struct {
	Container string `json:"Container"`
	ID        string `json:"ID"`
	Name      string `json:"Name"`
	CPUPerc   string `json:"CPUPerc"`
	MemUsage  string `json:"MemUsage"`
	MemPerc   string `json:"MemPerc"`
	NetIO     string `json:"NetIO"`
	BlockIO   string `json:"BlockIO"`
	PIDs      string `json:"PIDs"`
}

// Stats prints the services' containers' CPU, memory, network and block I/O
// and process counts, refreshed every interval (once with NoStream). CPU %
// is the CPU time used over the interval, as docker stats computes it.
func (a *App) Stats(ctx context.Context, p *types.Project, services []string, o StatsOptions) error {
	st, ok := a.Engine.(statser)
	if !ok {
		return errors.New("stats is not available with this engine")
	}
	if o.Format != "" && o.Format != "table" && o.Format != "json" {
		// A Go template, as docker stats takes: checked before anything runs.
		if err := writeTemplate(io.Discard, o.Format, statsHeaders, nil); err != nil {
			return err
		}
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	prev := map[string]runtime.Stats{}
	sample := func() ([]statsRow, error) {
		cs, err := a.serviceContainers(ctx, p, services, nil)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(cs, func(x, y runtime.Container) int { return strings.Compare(x.ID, y.ID) })
		var rows []statsRow
		for _, c := range cs {
			if !running(c) && !o.All {
				continue
			}
			id := instanceID(c)
			if !o.NoTrunc {
				id = id[:12]
			}
			row := statsRow{Container: c.ID, ID: id, Name: c.ID, CPUPerc: "0.00%", MemUsage: "0B / 0B", MemPerc: "0.00%", NetIO: "0B / 0B", BlockIO: "0B / 0B", PIDs: "0"}
			if running(c) {
				s, err := st.Stats(ctx, c.ID)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					continue // it stopped between list and sample
				}
				if before, ok := prev[c.ID]; ok {
					row.CPUPerc = fmt.Sprintf("%.2f%%", cpuPercent(before, s))
				}
				prev[c.ID] = s
				row.MemUsage = units.BytesSize(float64(s.MemUsage)) + " / " + units.BytesSize(float64(s.MemLimit))
				if s.MemLimit > 0 {
					row.MemPerc = fmt.Sprintf("%.2f%%", float64(s.MemUsage)/float64(s.MemLimit)*100)
				}
				row.NetIO = units.HumanSizeWithPrecision(float64(s.NetRx), 3) + " / " + units.HumanSizeWithPrecision(float64(s.NetTx), 3)
				row.BlockIO = units.HumanSizeWithPrecision(float64(s.BlockRead), 3) + " / " + units.HumanSizeWithPrecision(float64(s.BlockWrite), 3)
				row.PIDs = fmt.Sprint(s.Pids)
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	// The first sample only gives CPU % a starting point.
	if _, err := sample(); err != nil {
		return err
	}
	clear := !o.NoStream && isTerminal(a.Out)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
		rows, err := sample()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if clear {
			fmt.Fprint(a.Out, "\033[2J\033[H")
		}
		if err := printStats(a.Out, rows, o.Format); err != nil {
			return err
		}
		if o.NoStream {
			return nil
		}
	}
}

func cpuPercent(before, now runtime.Stats) float64 {
	wall := now.At.Sub(before.At)
	if wall <= 0 || now.CPUNanos < before.CPUNanos {
		return 0
	}
	return float64(now.CPUNanos-before.CPUNanos) / float64(wall.Nanoseconds()) * 100
}

// statsHeaders are docker stats' column names for `table TEMPLATE`.
var statsHeaders = map[string]string{"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}

func printStats(w io.Writer, rows []statsRow, format string) error {
	if format != "" && format != "table" && format != "json" {
		list := make([]any, len(rows))
		for i, r := range rows {
			list[i] = r
		}
		return writeTemplate(w, format, statsHeaders, list)
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs)
	}
	return tw.Flush()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
