// Command gocompose-supervisor is the per-host supervisor (embedded DNS,
// healthchecks, restart policies) as an executable of its own, installed
// beside gocompose, which starts it in its place: it links the supervisor's
// packages and none of the compose loader, BuildKit or Kubernetes, so the
// process that lives as long as the containers holds about half the
// memory. Bringing containers back after a reboot needs the compose model:
// once per boot, it runs `gocompose supervisor boot` for each namespace.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/supervisor"
)

func main() {
	// A long-lived process whose steady state allocates little (DNS
	// answers allocate nothing): collect at half the default growth,
	// measured 24.3 -> 22.5 MiB VmHWM with 30 containers (bench -only
	// rss), unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	address := flag.String("address", "", "containerd socket (default $CONTAINERD_ADDRESS, else containerd's)")
	watchdog := flag.Bool("watchdog", false, "run the supervisor as a child and start it again when it dies")
	flag.Parse()
	if *address == "" {
		*address = os.Getenv("CONTAINERD_ADDRESS")
	}
	if *address == "" {
		*address = runtime.DefaultAddress
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := log.New(os.Stderr, "supervisor: ", log.LstdFlags)
	exe, err := os.Executable()
	if err != nil {
		logger.Fatal(err)
	}
	if *watchdog {
		if err := supervisor.Watch(ctx, paths.State(), exe, []string{"--address", *address}, logger); err != nil {
			logger.Fatal(err)
		}
		return
	}
	full := filepath.Join(filepath.Dir(exe), "gocompose")
	err = supervisor.Run(ctx, supervisor.Config{
		Address: *address, State: paths.State(), Root: paths.Root(),
		Upstreams: supervisor.Upstreams(), Logger: logger,
		Boot: func(ctx context.Context, ns string, logf func(string, ...any)) error {
			return boot(ctx, full, *address, ns, logf)
		},
	})
	if code := supervisor.ExitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(code)
	}
}

// boot brings back one namespace's containers after a reboot with the
// gocompose binary beside this one (`gocompose supervisor boot`), its
// output in the supervisor's log.
func boot(ctx context.Context, full, address, ns string, logf func(string, ...any)) error {
	cmd := exec.CommandContext(ctx, full, "supervisor", "boot", "--address", address, "--namespace", ns)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("boot with %s: %w", full, err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		logf("%s", sc.Text())
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s supervisor boot --namespace %s: %w", full, ns, err)
	}
	return nil
}
