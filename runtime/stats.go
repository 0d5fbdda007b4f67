package runtime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"
)

// Stats is one sample of a running container's resource use.
type Stats struct {
	At                    time.Time
	CPUNanos              uint64 // CPU time used since the start
	MemUsage, MemLimit    uint64 // bytes; usage without the inactive page cache
	BlockRead, BlockWrite uint64
	NetRx, NetTx          uint64
	Pids                  uint64
}

// Stats samples a running container's cgroup (v1 or v2) through the task
// metrics API, and its network counters from its network namespace.
func (r *Runtime) Stats(ctx context.Context, id string) (Stats, error) {
	t, err := r.task(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	m, err := t.Metrics(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", id, conv(err))
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", id, err)
	}
	s := Stats{At: time.Now()}
	switch d := data.(type) {
	case *v1.Metrics:
		s.CPUNanos = d.GetCPU().GetUsage().GetTotal()
		mem := d.GetMemory()
		usage := mem.GetUsage().GetUsage()
		s.MemUsage = usage - min(usage, mem.GetTotalInactiveFile())
		s.MemLimit = mem.GetUsage().GetLimit()
		for _, e := range d.GetBlkio().GetIoServiceBytesRecursive() {
			switch strings.ToLower(e.GetOp()) {
			case "read":
				s.BlockRead += e.GetValue()
			case "write":
				s.BlockWrite += e.GetValue()
			}
		}
		s.Pids = d.GetPids().GetCurrent()
	case *v2.Metrics:
		s.CPUNanos = d.GetCPU().GetUsageUsec() * 1000
		mem := d.GetMemory()
		s.MemUsage = mem.GetUsage() - min(mem.GetUsage(), mem.GetInactiveFile())
		s.MemLimit = mem.GetUsageLimit()
		for _, e := range d.GetIo().GetUsage() {
			s.BlockRead += e.GetRbytes()
			s.BlockWrite += e.GetWbytes()
		}
		s.Pids = d.GetPids().GetCurrent()
	default:
		return Stats{}, fmt.Errorf("stats %s: unknown metrics type %T", id, data)
	}
	if total := hostMemory(); total > 0 && (s.MemLimit == 0 || s.MemLimit > total) {
		s.MemLimit = total // no limit: the host's memory, as Docker shows
	}
	s.NetRx, s.NetTx = netCounters(fmt.Sprintf("/proc/%d/net/dev", t.Pid()))
	return s, nil
}

// netCounters sums received and sent bytes over a namespace's interfaces
// other than lo.
func netCounters(path string) (rx, tx uint64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}

func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
