// Package supervisor is the per-host gocompose process: it serves DNS on
// every bridge gateway from records rebuilt out of containerd labels, and can
// be killed and restarted at any time without touching containers.
package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
	"github.com/gocompose/gocompose/dns"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/network"
	"golang.org/x/sys/unix"
)

// Config says where the supervisor finds containerd and keeps its files.
type Config struct {
	Address   string // containerd socket
	State     string // lock, pid file and control socket
	Root      string // network records
	Upstreams []string
	Logger    *log.Logger
	// Boot, when set, brings back after a reboot the containers of one
	// namespace whose restart policy says so (app.Boot). It runs once per
	// boot of the host: the first supervisor to start with an empty state
	// directory (/run is emptied by a reboot) runs it for every namespace.
	Boot func(ctx context.Context, namespace string, logf func(format string, args ...any)) error
}

// BootedPath marks, under state, that the containers were brought back
// since the host booted.
func BootedPath(state string) string { return filepath.Join(state, "booted") }

// SocketPath is the control socket under state.
func SocketPath(state string) string { return filepath.Join(state, "supervisor.sock") }

// PidPath is the pid file under state.
func PidPath(state string) string { return filepath.Join(state, "supervisor.pid") }

type supervisor struct {
	cfg     Config
	client  *containerd.Client // for events; everything else goes through store
	store   store
	handler *dns.Handler
	reqs    chan chan error

	mu        sync.Mutex // guards listeners
	listeners map[string]*dns.Listener
	probers   *probers
	identity  string // of the binary as it was when this process started

	restartMu sync.Mutex                // guards workers
	workers   map[string]chan exitEvent // restart worker by namespace/id
}

// Run serves until ctx ends or a stop request arrives. Only one supervisor
// runs per state directory: a second one returns an error at once.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "supervisor: ", log.LstdFlags)
	}
	if err := os.MkdirAll(cfg.State, 0o700); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(cfg.State, "supervisor.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("%w (%s): %v", ErrAnotherRuns, cfg.State, err)
	}
	if err := writePid(PidPath(cfg.State)); err != nil {
		return err
	}
	defer os.Remove(PidPath(cfg.State))
	client, err := containerd.New(cfg.Address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
	}
	defer client.Close()
	s := &supervisor{cfg: cfg, client: client, store: clientStore{client: client, address: cfg.Address, state: cfg.State}, handler: dns.NewHandler(cfg.Upstreams),
		reqs: make(chan chan error, 64), listeners: map[string]*dns.Listener{}}
	s.probers = &probers{s: s, loops: map[string]*prober{}}
	s.identity = Identity()
	s.workers = map[string]chan exitEvent{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sock := SocketPath(cfg.State)
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer os.Remove(sock)
	go s.rebuildLoop(ctx)
	go s.watchEvents(ctx)
	if err := s.reload(ctx); err != nil {
		cfg.Logger.Printf("initial rebuild: %v", err)
	}
	if err := s.catchUp(ctx); err != nil {
		cfg.Logger.Printf("restart policies of containers that exited meanwhile: %v", err)
	}
	if cfg.Boot != nil {
		go s.boot(ctx)
	}
	go func() { <-ctx.Done(); ln.Close() }()
	cfg.Logger.Printf("serving (pid %d, upstreams %v)", os.Getpid(), cfg.Upstreams)
	for {
		conn, err := ln.Accept()
		if err != nil {
			break
		}
		go s.serveControl(ctx, conn, cancel)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	for _, l := range s.listeners {
		_ = l.Shutdown(sctx)
	}
	return nil
}

func (s *supervisor) serveControl(ctx context.Context, conn net.Conn, stop context.CancelFunc) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		switch sc.Text() {
		case "ping":
			fmt.Fprintf(conn, "pong %d %s %s\n", os.Getpid(), s.identity, s.cfg.Address)
		case "reload":
			if err := s.reload(ctx); err != nil {
				fmt.Fprintf(conn, "error %v\n", err)
			} else {
				fmt.Fprintln(conn, "ok")
			}
		case "stop":
			fmt.Fprintln(conn, "ok")
			stop()
			return
		default:
			fmt.Fprintln(conn, "error unknown request")
		}
	}
}

// reload asks for a rebuild that starts after this call and waits for it.
// Concurrent requests share one rebuild.
func (s *supervisor) reload(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case s.reqs <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *supervisor) rebuildLoop(ctx context.Context) {
	for {
		var waiting []chan error
		select {
		case r := <-s.reqs:
			waiting = append(waiting, r)
		case <-ctx.Done():
			return
		}
	drain:
		for {
			select {
			case r := <-s.reqs:
				waiting = append(waiting, r)
			default:
				break drain
			}
		}
		err := s.rebuild(ctx)
		for _, w := range waiting {
			w <- err
		}
	}
}

// eventSettle is how long a burst of container events may go on before
// the one rebuild it asks for: an up of 30 containers sends over 60, and
// commands ask for the rebuilds they need themselves (reload).
const eventSettle = 100 * time.Millisecond

// watchEvents rebuilds when containers are created, updated or deleted by
// anyone, so records stay right even without a reload request.
func (s *supervisor) watchEvents(ctx context.Context) {
	// A burst's first event arms the timer; its firing queues one rebuild.
	var settling atomic.Bool
	settle := time.AfterFunc(time.Hour, func() {
		settling.Store(false)
		select {
		case s.reqs <- make(chan error, 1):
		default: // a rebuild is already queued
		}
	})
	settle.Stop()
	defer settle.Stop()
	for ctx.Err() == nil {
		ch, errs := s.client.EventService().Subscribe(ctx,
			`topic=="/containers/create"`, `topic=="/containers/update"`, `topic=="/containers/delete"`,
			`topic=="/tasks/start"`, `topic=="/tasks/exit"`, `topic=="/tasks/delete"`)
	loop:
		for {
			select {
			case env := <-ch:
				if env != nil && env.Topic == "/tasks/exit" && env.Event != nil {
					if v, err := typeurl.UnmarshalAny(env.Event); err == nil {
						if e, ok := v.(*apievents.TaskExit); ok && e.ID == e.ContainerID {
							s.restartOnExit(ctx, env.Namespace, e.ContainerID, e.Pid, e.ExitStatus)
						}
					}
				}
				if settling.CompareAndSwap(false, true) {
					settle.Reset(eventSettle)
				}
			case err := <-errs:
				if ctx.Err() == nil {
					s.cfg.Logger.Printf("events: %v", err)
				}
				break loop
			case <-ctx.Done():
				return
			}
		}
		time.Sleep(time.Second)
	}
}

// boot runs cfg.Boot for every namespace, once per boot of the host; the
// control socket answers meanwhile (the boot reloads DNS through it).
func (s *supervisor) boot(ctx context.Context) {
	if _, err := os.Stat(BootedPath(s.cfg.State)); err == nil {
		return
	}
	nss, err := s.store.Namespaces(ctx)
	if err != nil {
		s.cfg.Logger.Printf("boot: %v", err)
		return
	}
	logf := func(format string, args ...any) { s.cfg.Logger.Printf("boot: "+format, args...) }
	failed := false
	for _, ns := range nss {
		if err := s.cfg.Boot(ctx, ns, logf); err != nil {
			failed = true
			logf("namespace %s: %v", ns, err)
		}
	}
	if ctx.Err() != nil {
		return
	}
	if err := os.WriteFile(BootedPath(s.cfg.State), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		logf("%v", err)
	}
	if !failed {
		logf("done")
	}
}

// rebuild reads every attached container of every namespace and swaps in a
// new snapshot, then makes the listeners match the bridges.
func (s *supervisor) rebuild(ctx context.Context) error {
	nss, err := s.store.Namespaces(ctx)
	if err != nil {
		return err
	}
	var eps []dns.Endpoint
	for _, ns := range nss {
		cs, err := s.store.Containers(ctx, ns, labels.Networks)
		if err != nil {
			return err
		}
		for _, c := range cs {
			ceps, err := endpointsOf(ns, c.ID, c.Labels)
			if err != nil {
				s.cfg.Logger.Printf("DNS records of %s/%s: %v", ns, c.ID, err)
			}
			eps = append(eps, ceps...)
		}
	}
	s.handler.Set(dns.NewSnapshot(eps))
	if err := s.probers.sync(ctx); err != nil {
		s.cfg.Logger.Printf("healthchecks: %v", err)
	}
	return s.syncListeners()
}

// endpointsOf turns a container's network labels into its DNS records:
// one per network, with the names it answers to and the upstreams its dns:
// option names. A label that does not parse gives no records and an error.
func endpointsOf(ns, id string, lbls map[string]string) ([]dns.Endpoint, error) {
	list, err := labels.EndpointsOf(lbls)
	if err != nil {
		return nil, err
	}
	var ups []string
	if v := lbls[labels.DNS]; v != "" {
		for _, u := range strings.Split(v, ",") {
			ups = append(ups, net.JoinHostPort(u, "53"))
		}
	}
	withheld := map[string]bool{}
	if v := lbls[labels.DNSWithheld]; v != "" {
		for _, n := range strings.Split(v, ",") {
			withheld[n] = true
		}
	}
	var eps []dns.Endpoint
	var errs []error
	for _, e := range list {
		names := make([]string, 0, len(e.Names))
		for _, n := range e.Names {
			if !withheld[n] {
				names = append(names, n)
			}
		}
		// An endpoint per address: the IPv4 one and, on an IPv6 network,
		// the IPv6 one (AAAA).
		for i, addr := range []string{e.IP, e.IP6} {
			if i > 0 && addr == "" {
				continue
			}
			ip, err := netip.ParseAddr(addr)
			if err != nil {
				errs = append(errs, fmt.Errorf("network %s: address: %w", e.Network, err))
				continue
			}
			eps = append(eps, dns.Endpoint{Network: ns + "/" + e.Network, Container: ns + "/" + id,
				PTRName: id, Names: names, IP: ip, Upstreams: ups})
		}
	}
	return eps, errors.Join(errs...)
}

// syncListeners listens on the gateway of every network whose bridge holds
// it, and stops listening on gateways that are gone. Never 0.0.0.0.
func (s *supervisor) syncListeners() error {
	nets, err := network.Store{Dir: filepath.Join(s.cfg.Root, "networks")}.List()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range nets {
		if n.Gateway.IsValid() && !n.Gateway.IsUnspecified() {
			want[net.JoinHostPort(n.Gateway.String(), "53")] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for addr, l := range s.listeners {
		if !want[addr] {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.Shutdown(ctx)
			cancel()
			delete(s.listeners, addr)
		}
	}
	for _, addr := range slices.Sorted(mapKeys(want)) {
		if _, ok := s.listeners[addr]; ok {
			continue
		}
		l, err := dns.Listen(addr, s.handler)
		if err != nil {
			// The bridge may not hold its address yet; the next
			// rebuild tries again.
			errs = append(errs, err)
			continue
		}
		s.listeners[addr] = l
	}
	if len(errs) > 0 {
		s.cfg.Logger.Printf("listen: %v", errors.Join(errs...))
	}
	return nil
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
