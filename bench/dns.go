package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/gocompose/gocompose/dns"
	"github.com/gocompose/gocompose/internal/labels"
	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

var (
	serveDNS = flag.String("serve-dns", "", `(internal) serve DNS as a child process: "miekg" (the server before the packed path) or "packed"`)
	dnsAddr  = flag.String("dns-addr", "", "(internal) with -serve-dns: address to bind")
	dnsSrc   = flag.String("dns-src", "", "(internal) with -serve-dns: the asking container's address")
)

// serveDNSChild answers s1 and s2 for the asking container, as the
// supervisor would, until it is signalled: with miekg/dns's server (how
// gocompose served UDP before the packed path) or with dns.Listen.
func serveDNSChild() {
	src, err := netip.ParseAddr(*dnsSrc)
	check(err)
	h := dns.NewHandler(nil)
	h.Set(dns.NewSnapshot([]dns.Endpoint{{Network: "n", Container: "bench", Names: []string{"s1", "s2", "bench"}, IP: src}}))
	switch *serveDNS {
	case "miekg":
		pc, err := net.ListenPacket("udp", *dnsAddr)
		check(err)
		go func() { _ = (&mdns.Server{PacketConn: pc, Handler: h}).ActivateAndServe() }()
	case "packed":
		_, err := dns.Listen(*dnsAddr, h)
		check(err)
	default:
		check(fmt.Errorf("-serve-dns %q", *serveDNS))
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// dnsServer is one server under test: where it listens and its process.
type dnsServer struct {
	label string
	addr  string
	pid   int
}

// dnsBench measures, from inside a running container's network namespace
// (sockets made there stay there), three servers on its gateway in one
// run: miekg/dns's server as gocompose used it before (the floor), the
// packed path in a process of its own, and the real supervisor. For each:
// its CPU per answered query at a paced 20k qps (from /proc/PID/stat), and
// the queries per second 8 sockets get flat out.
func dnsBench(ctx context.Context, c *containerd.Client) string {
	ctr, err := c.LoadContainer(ctx, "bench30i-s0-1")
	check(err)
	lbls, err := ctr.Labels(ctx)
	check(err)
	netns := lbls[labels.NetNS]
	resolv, err := os.ReadFile(filepath.Join("/var/lib/gocompose/containers", ns, "bench30i-s0-1", "resolv.conf"))
	check(err)
	gw := strings.Fields(strings.Split(string(resolv), "\n")[0])[1]
	probe := socketsIn(netns, gw+":53", 1)[0]
	src := probe.LocalAddr().(*net.UDPAddr).IP.String()
	probe.Close()

	supPid, err := os.ReadFile("/run/gocompose/supervisor.pid")
	check(err)
	sp, err := strconv.Atoi(strings.TrimSpace(string(supPid)))
	check(err)
	servers := []dnsServer{}
	for i, kind := range []string{"miekg", "packed"} {
		addr := fmt.Sprintf("%s:%d", gw, 5301+i)
		cmd := exec.Command(os.Args[0], "-serve-dns", kind, "-dns-addr", addr, "-dns-src", src)
		out, err := cmd.StdoutPipe()
		check(err)
		cmd.Stderr = os.Stderr
		check(cmd.Start())
		buf := make([]byte, 6)
		_, err = out.Read(buf)
		check(err)
		defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
		label := map[string]string{"miekg": "floor: miekg/dns server (gocompose's UDP path before)", "packed": "packed answer path (dns.Listen), own process"}[kind]
		servers = append(servers, dnsServer{label, addr, cmd.Process.Pid})
	}
	servers = append(servers, dnsServer{"gocompose supervisor (packed path), 30 containers", gw + ":53", sp})

	var b strings.Builder
	b.WriteString("| DNS server, asked from a container's netns | CPU per query at 20k qps | answered qps (paced) | max qps, 8 sockets | ratio to floor |\n|---|---:|---:|---:|---:|\n")
	var floorQPS float64
	for i, s := range servers {
		// The median of -runs measurements of each figure.
		var cpus, paced, maxes []float64
		for range *runs {
			cpu, answered, qps := dnsRun(netns, s)
			cpus, paced, maxes = append(cpus, cpu), append(paced, answered), append(maxes, qps)
		}
		cpu, answered, qps := medianOf(cpus), medianOf(paced), medianOf(maxes)
		ratio := ""
		if i == 0 {
			floorQPS = qps
		} else if floorQPS > 0 {
			ratio = fmt.Sprintf("%.2f× max qps", qps/floorQPS)
		}
		fmt.Fprintf(&b, "| %s | %.1f µs | %.0f | %.0f | %s |\n", s.label, cpu, answered, qps, ratio)
	}
	return b.String()
}

// dnsRun measures one server: a paced run of 3 s at 20k qps over 4
// sockets (CPU per answered query), then 8 sockets flat out for 3 s.
func dnsRun(netns string, s dnsServer) (cpuPerQuery, pacedQPS, maxQPS float64) {
	const window = 3 * time.Second
	paced := socketsIn(netns, s.addr, 4)
	flat := socketsIn(netns, s.addr, 8)
	defer func() {
		for _, c := range slices.Concat(paced, flat) {
			c.Close()
		}
	}()
	generate(paced, 0, time.Second) // warm-up
	before := cpuTime(s.pid)
	n := generate(paced, 20000, window)
	used := cpuTime(s.pid) - before
	if n > 0 {
		cpuPerQuery = float64(used.Microseconds()) / float64(n)
	}
	return cpuPerQuery, float64(n) / window.Seconds(), float64(generate(flat, 0, window)) / window.Seconds()
}

// generate asks for s1 on every socket, one query in flight per socket,
// at rate queries per second in all (0: as fast as answers come), for d,
// and returns how many were answered.
func generate(socks []*net.UDPConn, rate int, d time.Duration) int {
	q := new(mdns.Msg)
	q.SetQuestion("s1.", mdns.TypeA)
	q.Id = 0x4242
	query, err := q.Pack()
	check(err)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for _, c := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			n := 0
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(len(socks)) * time.Second / time.Duration(rate)
			}
			for i := 0; ; i++ {
				now := time.Now()
				if now.After(end) {
					break
				}
				if interval > 0 {
					if next := start.Add(time.Duration(i) * interval); next.After(now) {
						time.Sleep(next.Sub(now))
					}
				}
				_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := c.Write(query); err != nil {
					continue
				}
				if m, err := c.Read(buf); err == nil && m > 12 && buf[0] == 0x42 && buf[1] == 0x42 && buf[7] > 0 {
					n++
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

// socketsIn opens n UDP sockets connected to addr inside netns.
func socketsIn(netns, addr string, n int) []*net.UDPConn {
	ua, err := net.ResolveUDPAddr("udp", addr)
	check(err)
	socks := make([]*net.UDPConn, n)
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open(netns, unix.O_RDONLY, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		for i := 0; err == nil && i < n; i++ {
			socks[i], err = net.DialUDP("udp", nil, ua)
		}
		done <- err
	}()
	check(<-done)
	return socks
}

// cpuTime is a process's user+system CPU so far (all its threads).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the whole line, in clock ticks (100 Hz).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
