package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
)

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// busyCPU is the machine's busy CPU time so far (/proc/stat: user, nice,
// system, irq, softirq, steal), all CPUs together.
func busyCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	check(err)
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		check(err)
		ticks += v
	}
	return time.Duration(ticks) * clockTick
}

// loggersCPU is the CPU time so far of every running gocompose-logger,
// from each thread's schedstat (nanoseconds: a logger's few milliseconds
// are below /proc/PID/stat's 10 ms ticks).
func loggersCPU() time.Duration {
	ents, err := os.ReadDir("/proc")
	check(err)
	var total time.Duration
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || filepath.Base(exe) != "gocompose-logger" {
			continue
		}
		stats, _ := filepath.Glob(filepath.Join("/proc", e.Name(), "task", "*", "schedstat"))
		for _, st := range stats {
			if b, err := os.ReadFile(st); err == nil {
				if ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64); err == nil {
					total += time.Duration(ns)
				}
			}
		}
	}
	return total
}

// supervisorPid is the running supervisor's pid (0 when none).
func supervisorPid() int {
	b, err := os.ReadFile("/run/gocompose/supervisor.pid")
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// cpuBreakdown says where the CPU of `up -d` of 30 independent services
// goes, beside the floor (bare containerd creating and starting the same
// containers with the seccomp profile): the machine's busy CPU over the
// command, the CLI's own (with what it ran), the supervisor's, the log
// drivers', and the rest (containerd, the shims, runc, the kernel).
func cpuBreakdown(ctx context.Context, client *containerd.Client) string {
	const n = 30
	var fWall, fCPU []time.Duration
	bareContainers(ctx, client, n, seccomp.WithDefaultProfile())
	for i := 0; i < *runs; i++ {
		u, _, c := bareContainersCPU(ctx, client, n, seccomp.WithDefaultProfile())
		fWall, fCPU = append(fWall, u), append(fCPU, c)
	}
	dir := project(n, false, false)
	mustRunIn(dir, *bin, "up", "-d")
	mustRunIn(dir, *bin, "down", "-t", "1")
	var wall, machine, cli, sup, logs []time.Duration
	for i := 0; i < *runs; i++ {
		pid := supervisorPid()
		s0, c0, start := cpuTime(pid), busyCPU(), time.Now()
		cmd := exec.Command(*bin, "up", "-d")
		cmd.Dir = dir
		check(cmd.Run())
		wall = append(wall, time.Since(start))
		machine = append(machine, busyCPU()-c0)
		sup = append(sup, cpuTime(pid)-s0)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cli = append(cli, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
		logs = append(logs, loggersCPU())
		mustRunIn(dir, *bin, "down", "-t", "1")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| `up -d`, 30 independent services (medians of %d) | wall | machine CPU | gocompose CLI | supervisor | log drivers | the rest: containerd, shims, runc, kernel |\n|---|---:|---:|---:|---:|---:|---:|\n", *runs)
	s := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	median := func(d []time.Duration) time.Duration { return row{samples: d}.median() }
	fmt.Fprintf(&b, "| floor: bare containerd create+start, with Docker's seccomp profile | %s | %s |  |  |  | %s |\n", s(median(fWall)), s(median(fCPU)), s(median(fCPU)))
	rest := median(machine) - median(cli) - median(sup) - median(logs)
	fmt.Fprintf(&b, "| gocompose | %s | %s | %s | %s | %s | %s |\n", s(median(wall)), s(median(machine)), s(median(cli)), s(median(sup)), s(median(logs)), s(rest))
	return b.String()
}
