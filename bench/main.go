// Command bench measures gocompose against the floor of bare containerd
// doing the same work in the same run, and prints a Markdown table.
//
//	make bench   (root; containerd must answer; bin/gocompose and bin/buildkitd built)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	clog "github.com/containerd/log"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/internal/testimage"
)

const ns = "gocompose-bench"

var (
	bin     = flag.String("gocompose", "bin/gocompose", "gocompose binary")
	runs    = flag.Int("runs", 3, "measured runs per row (after one warm-up)")
	sizes   = flag.String("n", "1,10,30", "service counts")
	only    = flag.String("only", "", `run one group of rows: "images", "attach", "dns", "floor" (one bare containerd run), "updown" (the up -d/down rows, with -baseline), "rss" (peak RSS of the CLI and the supervisor, with -baseline), or "cpu" (where the CPU of up -d of 30 goes, beside the floor's)`)
	base    = flag.String("baseline", "", "with -only updown: a second gocompose binary (an older build) measured in the same run, in alternating blocks")
	address = flag.String("address", "/run/containerd/containerd.sock", "containerd socket")
	work    string
)

type row struct {
	name       string
	samples    []time.Duration
	floor      time.Duration
	floorLabel string
	// more are further floors the row is also compared with.
	more []floorRef
}

type floorRef struct {
	d     time.Duration
	label string
}

func (r row) median() time.Duration {
	s := slices.Clone(r.samples)
	slices.Sort(s)
	return s[len(s)/2]
}

func main() {
	flag.Parse()
	if *serveDNS != "" {
		serveDNSChild()
		return
	}
	_ = clog.SetLevel("warn")
	abs, err := filepath.Abs(*bin)
	check(err)
	*bin = abs
	work, err = os.MkdirTemp("", "gcbench")
	check(err)
	defer os.RemoveAll(work)
	defer stopSupervisor()
	ctx := context.Background()
	env := []string{"CONTAINERD_NAMESPACE=" + ns, "CONTAINERD_ADDRESS=" + *address}
	os.Setenv("CONTAINERD_NAMESPACE", ns)
	os.Setenv("CONTAINERD_ADDRESS", *address)
	_ = env

	img := filepath.Join(work, "busybox.tar")
	f, err := os.Create(img)
	check(err)
	check(testimage.Busybox(f, testimage.Ref))
	f.Close()
	mustRun(*bin, "image", "load", "-i", img)

	client, err := containerd.New(*address, containerd.WithDefaultNamespace(ns))
	check(err)
	defer client.Close()

	if *only == "images" {
		printTable(imageBench(ctx, client))
		return
	}
	if *only == "dns" {
		dir := project(30, false, false)
		mustRunIn(dir, *bin, "up", "-d")
		fmt.Print(dnsBench(ctx, client))
		mustRunIn(dir, *bin, "down", "-t", "1")
		return
	}
	if *only == "floor" {
		for _, n := range parseSizes(*sizes) {
			u, d := bareContainers(ctx, client, n)
			fmt.Printf("bare containerd, %d containers, 8 at once: create+start %v, remove %v\n", n, u, d)
		}
		return
	}
	if *only == "attach" {
		printTable(attachBench(ctx))
		return
	}
	if *only == "updown" {
		printTable(upDownCompare(ctx, client))
		rssCompare()
		return
	}
	if *only == "rss" {
		rssCompare()
		return
	}
	if *only == "cpu" {
		fmt.Print(cpuBreakdown(ctx, client))
		return
	}
	var rows []row
	ctrRun := measure(func() {
		mustRun("ctr", "-n", ns, "run", "--rm", testimage.Ref, fmt.Sprintf("bench-ctr-%d", time.Now().UnixNano()), "true")
	})
	rows = append(rows, row{name: "floor: `ctr run --rm busybox true`", samples: ctrRun})
	floor := ctrRun[len(ctrRun)/2]

	for _, n := range parseSizes(*sizes) {
		floors, upFloor, downFloor, secFloor := floorRows(ctx, client, n)
		rows = append(rows, floors...)
		for _, chain := range []bool{true, false} {
			kind := "independent"
			if chain {
				kind = "chain"
			}
			dir := project(n, chain, false)
			var ups, downs []time.Duration
			for i := 0; i <= *runs; i++ {
				u := timed(func() { mustRunIn(dir, *bin, "up", "-d") })
				d := timed(func() { mustRunIn(dir, *bin, "down", "-t", "1") })
				if i > 0 {
					ups, downs = append(ups, u), append(downs, d)
				}
			}
			rows = append(rows,
				row{name: fmt.Sprintf("gocompose `up -d`, %d services, %s", n, kind), samples: ups, floor: upFloor, floorLabel: "bare create+start",
					more: []floorRef{{secFloor, "with seccomp"}, {floor, "ctr run"}}},
				row{name: fmt.Sprintf("gocompose `down`, %d services, %s", n, kind), samples: downs, floor: downFloor, floorLabel: "bare remove",
					more: []floorRef{{floor, "ctr run"}}})
		}
	}

	// DNS in the path: a 30-service chain where each fetches the previous
	// by name before serving; up --wait returns when all have fetched.
	dir := project(30, true, true)
	var dnsUps []time.Duration
	for i := 0; i <= *runs; i++ {
		u := timed(func() { mustRunIn(dir, *bin, "up", "-d", "--wait") })
		mustRunIn(dir, *bin, "down", "-t", "1")
		if i > 0 {
			dnsUps = append(dnsUps, u)
		}
	}
	rows = append(rows, row{name: "gocompose `up -d --wait`, 30-chain, each fetches the previous by name", samples: dnsUps, floor: floor, floorLabel: "ctr run"})

	// Peak RSS of the CLI and of the supervisor with 30 containers.
	dir = project(30, false, false)
	cliRSS := runRSS(dir, *bin, "up", "-d")
	supRSS := supervisorRSS()
	dnsRes := dnsBench(ctx, client)
	mustRunIn(dir, *bin, "down", "-t", "1")
	cpuRes := cpuBreakdown(ctx, client)

	attachRows := attachBench(ctx)
	buildRows := buildBench()
	rows = append(rows, buildRows...)
	rows = append(rows, imageBench(ctx, client)...)
	// Stop the buildkitd this run started for its namespace.
	_ = build.Daemon{Containerd: *address, Namespace: ns, State: paths.State()}.Stop()

	printTable(rows)
	fmt.Println()
	printTable(attachRows)
	fmt.Printf("\nPeak RSS: CLI `up -d` of 30 services %.1f MiB; supervisor with 30 containers %.1f MiB (VmHWM).\n", cliRSS, supRSS)
	fmt.Println(dnsRes)
	fmt.Print(cpuRes)
	fmt.Printf("\nMachine: %d CPUs, %s, %s.\n", runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), containerdVersion(ctx, client))
}

func containerdVersion(ctx context.Context, c *containerd.Client) string {
	v, err := c.Version(ctx)
	if err != nil {
		return "containerd ?"
	}
	return "containerd " + v.Version
}

func parseSizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		fmt.Sscan(f, &n)
		if n > 0 {
			out = append(out, n)
		}
	}
	return out
}

const httpd = `["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 & wait"]`

// project writes an N-service project; chain makes each depend on the
// previous; fetch makes each fetch the previous by name first.
func project(n int, chain, fetch bool) string {
	dir := filepath.Join(work, fmt.Sprintf("p%d-%t-%t", n, chain, fetch))
	check(os.MkdirAll(dir, 0o755))
	var b strings.Builder
	fmt.Fprintf(&b, "name: bench%d%s\nservices:\n", n, map[bool]string{true: "c", false: "i"}[chain]+map[bool]string{true: "f", false: ""}[fetch])
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: busybox\n", i)
		switch {
		case fetch && i > 0:
			fmt.Fprintf(&b, "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; until wget -qO- http://s%d:8080/ok; do sleep 0.05; done; echo ok > /tmp/ok; mkdir -p /w; echo ok > /w/ok; httpd -f -p 8080 -h /w & wait\"]\n", i-1)
			b.WriteString("    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/tmp/ok\"]\n      interval: 5s\n      start_interval: 100ms\n      start_period: 60s\n")
		case fetch:
			b.WriteString("    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; mkdir -p /w; echo ok > /w/ok; httpd -f -p 8080 -h /w & wait\"]\n")
		default:
			fmt.Fprintf(&b, "    command: %s\n", httpd)
		}
		if chain && i > 0 {
			fmt.Fprintf(&b, "    depends_on: [s%d]\n", i-1)
		}
		b.WriteString("    networks: [net]\n")
	}
	b.WriteString("networks:\n  net: {}\n")
	check(os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(b.String()), 0o644))
	return dir
}

// bareContainers is the floor: the same busybox httpd containers created
// and started, then removed, through the containerd client, no CNI, 8 at
// once. It returns how long each half took.
func bareContainers(ctx context.Context, c *containerd.Client, n int, opts ...oci.SpecOpts) (up, down time.Duration) {
	up, down, _ = bareContainersCPU(ctx, c, n, opts...)
	return up, down
}

// bareContainersCPU is bareContainers, also returning the machine's busy
// CPU time over the create+start half.
func bareContainersCPU(ctx context.Context, c *containerd.Client, n int, opts ...oci.SpecOpts) (up, down, upCPU time.Duration) {
	image, err := c.GetImage(ctx, testimage.Ref)
	check(err)
	ctrs := make([]containerd.Container, n)
	tasks := make([]containerd.Task, n)
	create := func(i int) {
		id := fmt.Sprintf("bench-bare-%d-%d", i, time.Now().UnixNano())
		ctr, err := c.NewContainer(ctx, id, containerd.WithImage(image), containerd.WithNewSnapshot(id, image),
			containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(image), oci.WithProcessArgs("sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 & wait")}, opts...)...))
		check(err)
		t, err := ctr.NewTask(ctx, cio.NullIO)
		check(err)
		check(t.Start(ctx))
		ctrs[i], tasks[i] = ctr, t
	}
	remove := func(i int) {
		_, err := tasks[i].Delete(ctx, containerd.WithProcessKill)
		check(err)
		check(ctrs[i].Delete(ctx, containerd.WithSnapshotCleanup))
	}
	each := func(fn func(int)) time.Duration {
		return timed(func() {
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := 0; i < n; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() { defer wg.Done(); defer func() { <-sem }(); fn(i) }()
			}
			wg.Wait()
		})
	}
	c0 := busyCPU()
	up = each(create)
	upCPU = busyCPU() - c0
	return up, each(remove), upCPU
}

// floorRows measures the floors of the n-service up/down rows: bare
// containerd creating and starting n containers 8 at once, the same with
// the seccomp profile gocompose (and Docker) give every container (runc
// compiles it into a filter per container), and removing them; it returns
// the rows and their medians.
func floorRows(ctx context.Context, client *containerd.Client, n int) (rows []row, up, down, withSeccomp time.Duration) {
	bareUp, bareDown := measureBare(ctx, client, n)
	secUp, _ := measureBare(ctx, client, n, seccomp.WithDefaultProfile())
	rows = []row{
		{name: fmt.Sprintf("floor: bare containerd create+start %d, parallel", n), samples: bareUp},
		{name: fmt.Sprintf("floor: bare containerd create+start %d, parallel, with Docker's seccomp profile", n), samples: secUp},
		{name: fmt.Sprintf("floor: bare containerd remove %d, parallel", n), samples: bareDown},
	}
	return rows, rows[0].median(), rows[2].median(), rows[1].median()
}

// measureBare runs bareContainers after one warm-up, -runs times.
func measureBare(ctx context.Context, c *containerd.Client, n int, opts ...oci.SpecOpts) (ups, downs []time.Duration) {
	bareContainers(ctx, c, n, opts...)
	for i := 0; i < *runs; i++ {
		u, d := bareContainers(ctx, c, n, opts...)
		ups, downs = append(ups, u), append(downs, d)
	}
	return ups, downs
}

func measure(fn func()) []time.Duration {
	fn() // warm-up
	var out []time.Duration
	for i := 0; i < *runs; i++ {
		out = append(out, timed(fn))
	}
	return out
}

func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

func mustRun(name string, args ...string) { mustRunIn("", name, args...) }

func mustRunIn(dir, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		os.Exit(1)
	}
}

func runRSS(dir, name string, args ...string) float64 {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	check(cmd.Run())
	return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}

// stopSupervisor stops the supervisor (and its watchdog) the measured
// commands started: the bench leaves nothing running.
func stopSupervisor() {
	for _, f := range []string{"supervisor-watchdog.pid", "supervisor.pid"} {
		if b, err := os.ReadFile(filepath.Join("/run/gocompose", f)); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				daemon.Stop(pid, "supervisor", 5*time.Second)
			}
		}
	}
}

func supervisorRSS() float64 {
	pid := supervisorPid()
	if pid == 0 {
		return 0
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), &kb)
			return kb / 1024
		}
	}
	return 0
}

// buildBench builds a 2-service project (FROM local base + RUN + COPY):
// cold (no cache), cached, and `up -d --build` with nothing changed.
func buildBench() []row {
	dir := filepath.Join(work, "build")
	for _, s := range []string{"a", "b"} {
		check(os.MkdirAll(filepath.Join(dir, s), 0o755))
		check(os.WriteFile(filepath.Join(dir, s, "Dockerfile"), []byte("FROM busybox\nRUN echo built > /built\nCOPY file /file\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"]\n"), 0o644))
		check(os.WriteFile(filepath.Join(dir, s, "file"), []byte(s), 0o644))
	}
	check(os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("name: benchbuild\nservices:\n  a:\n    build: ./a\n  b:\n    build: ./b\n"), 0o644))
	cold := measure(func() { mustRunIn(dir, *bin, "build", "--no-cache", "-q") })
	cached := measure(func() { mustRunIn(dir, *bin, "build", "-q") })
	mustRunIn(dir, *bin, "up", "-d", "--build")
	upBuild := measure(func() { mustRunIn(dir, *bin, "up", "-d", "--build") })
	mustRunIn(dir, *bin, "down", "-t", "1")
	return []row{
		{name: "build 2 services, cold (--no-cache)", samples: cold},
		{name: "build 2 services, cached", samples: cached},
		{name: "`up -d --build`, nothing changed", samples: upBuild},
	}
}

func printTable(rows []row) {
	fmt.Println("| workload | median | min–max | ratio to floor |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range rows {
		s := slices.Clone(r.samples)
		slices.Sort(s)
		var ratios []string
		for _, f := range append([]floorRef{{r.floor, r.floorLabel}}, r.more...) {
			if f.d > 0 {
				ratios = append(ratios, fmt.Sprintf("%.2f× %s", float64(r.median())/float64(f.d), f.label))
			}
		}
		ratio := strings.Join(ratios, ", ")
		if r.median() < 100*time.Millisecond {
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			fmt.Printf("| %s | %.2f ms | %.2f–%.2f ms | %s |\n", r.name, ms(r.median()), ms(s[0]), ms(s[len(s)-1]), ratio)
			continue
		}
		fmt.Printf("| %s | %.3f s | %.3f–%.3f s | %s |\n", r.name, r.median().Seconds(), s[0].Seconds(), s[len(s)-1].Seconds(), ratio)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// upDownCompare measures the up -d and down rows of this binary and, with
// -baseline, of another build, in alternating blocks (new, old, new, old:
// each block's warm-up run absorbs the supervisor being replaced by the
// other build's), so both see the same machine.
func upDownCompare(ctx context.Context, client *containerd.Client) []row {
	bins := []struct{ label, path string }{{"gocompose", *bin}}
	if *base != "" {
		bins = append(bins, struct{ label, path string }{"baseline", *base})
	}
	var rows []row
	for _, n := range parseSizes(*sizes) {
		floors, upFloor, downFloor, secFloor := floorRows(ctx, client, n)
		rows = append(rows, floors...)
		for _, chain := range []bool{true, false} {
			kind := "independent"
			if chain {
				kind = "chain"
			}
			dir := project(n, chain, false)
			ups, downs := map[string][]time.Duration{}, map[string][]time.Duration{}
			for range 2 {
				for _, b := range bins {
					for i := 0; i <= *runs; i++ {
						u := timed(func() { mustRunIn(dir, b.path, "up", "-d") })
						d := timed(func() { mustRunIn(dir, b.path, "down", "-t", "1") })
						if i > 0 {
							ups[b.label], downs[b.label] = append(ups[b.label], u), append(downs[b.label], d)
						}
					}
				}
			}
			for _, b := range bins {
				rows = append(rows,
					row{name: fmt.Sprintf("%s `up -d`, %d services, %s", b.label, n, kind), samples: ups[b.label], floor: upFloor, floorLabel: "bare create+start",
						more: []floorRef{{secFloor, "with seccomp"}}},
					row{name: fmt.Sprintf("%s `down`, %d services, %s", b.label, n, kind), samples: downs[b.label], floor: downFloor, floorLabel: "bare remove"})
			}
		}
	}
	return rows
}

// rssCompare prints, for this binary and the -baseline one, the CLI's peak
// RSS for `up -d` of 30 independent services and the supervisor's VmHWM
// with them running (each build's own supervisor, started by its up).
func rssCompare() {
	bins := []struct{ label, path string }{{"gocompose", *bin}}
	if *base != "" {
		bins = append(bins, struct{ label, path string }{"baseline", *base})
	}
	dir := project(30, false, false)
	for _, b := range bins {
		mustRunIn(dir, b.path, "down", "-t", "1")
		cli := runRSS(dir, b.path, "up", "-d")
		sup := supervisorRSS()
		mustRunIn(dir, b.path, "down", "-t", "1")
		fmt.Printf("%s: peak RSS of the CLI, `up -d` of 30 services %.1f MiB; supervisor with 30 containers %.1f MiB (VmHWM)\n", b.label, cli, sup)
	}
}
