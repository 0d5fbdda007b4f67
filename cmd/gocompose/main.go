// Command gocompose runs Compose files on containerd, with Docker Compose's
// command line. This package only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	clog "github.com/containerd/log"
	"github.com/gocompose/gocompose/app"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/internal/auth"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/spec"
	"github.com/gocompose/gocompose/supervisor"
	bkclient "github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
)

// globals are the flags every command shares.
type globals struct {
	files      []string
	project    string
	projectDir string
	envFiles   []string
	profiles   []string
	parallel   int
	address    string
	namespace  string
	ansi       string
	progress   string
	dryRun     bool
	cniPath    []string
}

func (g *globals) specOptions() spec.Options {
	return spec.Options{Files: g.files, ProjectName: g.project, ProjectDirectory: g.projectDir,
		EnvFiles: g.envFiles, Profiles: g.profiles}
}

// connect opens containerd and builds the App.
func (g *globals) connect(ctx context.Context) (*app.App, func(), error) {
	addr := g.address
	if addr == "" {
		addr = os.Getenv("CONTAINERD_ADDRESS")
	}
	ns := g.namespace
	if ns == "" {
		ns = os.Getenv("CONTAINERD_NAMESPACE")
	}
	rt, err := runtime.Connect(ctx, runtime.Config{Address: addr, Namespace: ns, Notify: os.Stderr})
	if err != nil {
		return nil, nil, err
	}
	rt.SetRegistries(registries())
	par := g.parallel
	if par <= 0 {
		if v, err := strconv.Atoi(os.Getenv("COMPOSE_PARALLEL_LIMIT")); err == nil && v > 0 {
			par = v
		}
	}
	exe, err := os.Executable()
	if err != nil {
		rt.Close()
		return nil, nil, err
	}
	a := &app.App{Engine: rt, In: os.Stdin, Out: os.Stdout, Err: os.Stderr, LockDir: paths.Locks(), Parallel: par,
		Net: network.NewManager(paths.Root(), g.cniPath), StateDir: paths.State(), RootDir: paths.Root(),
		DNS:     dnsControl{state: paths.State(), address: rt.Address(), exe: exe},
		Builder: &builder{daemon: build.Daemon{Containerd: rt.Address(), Namespace: rt.Namespace(), State: paths.State(), Root: paths.Root()}}}
	return a, func() { rt.Close() }, nil
}

// builder connects to buildkitd on first use, starting it if needed.
type builder struct {
	daemon build.Daemon
	once   sync.Once
	client *bkclient.Client
	err    error
}

func (b *builder) Prune(ctx context.Context, all bool) (int64, error) {
	b.once.Do(func() { b.client, b.err = b.daemon.Client(ctx) })
	if b.err != nil {
		return 0, b.err
	}
	return build.Prune(ctx, b.client, all)
}

func (b *builder) Build(ctx context.Context, req build.Request, out io.Writer, progress string) (build.Result, error) {
	b.once.Do(func() { b.client, b.err = b.daemon.Client(ctx) })
	if b.err != nil {
		return build.Result{}, b.err
	}
	return build.Build(ctx, b.client, req, out, progress)
}

// dnsControl starts and reloads the supervisor through its control socket.
type dnsControl struct{ state, address, exe string }

func (d dnsControl) Ensure(ctx context.Context) error {
	return supervisor.Ensure(ctx, d.state, d.address, d.exe)
}

func (d dnsControl) Reload(ctx context.Context) error { return supervisor.Reload(ctx, d.state) }

func main() {
	// The containerd shim runs gocompose itself as the log driver.
	if len(os.Args) > 2 && os.Args[1] == runtime.LoggerArg {
		runtime.RunLogger(os.Args[2])
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRoot()
	err := root.ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *app.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	fmt.Fprintln(os.Stderr, err)
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "gocompose [OPTIONS] COMMAND",
		Short:         "Run Compose projects on containerd, without a Docker daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       app.Version,
	}
	root.SetVersionTemplate("gocompose version v{{.Version}}\n")
	// Global flags go before the command, as with docker compose; so
	// `logs -f` can mean --follow.
	root.TraverseChildren = true
	f := root.Flags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "Compose configuration files")
	f.StringVarP(&g.project, "project-name", "p", "", "Project name")
	f.StringVar(&g.projectDir, "project-directory", "", "Specify an alternate working directory (default: the path of the first specified Compose file)")
	f.StringArrayVar(&g.envFiles, "env-file", nil, "Specify an alternate environment file")
	f.StringArrayVar(&g.profiles, "profile", nil, "Specify a profile to enable")
	f.IntVar(&g.parallel, "parallel", -1, "Control max parallelism (default: $COMPOSE_PARALLEL_LIMIT, else 4 per CPU)")
	f.StringVar(&g.address, "address", "", "containerd socket (default $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock, else a private containerd)")
	f.StringVar(&g.namespace, "namespace", "", "containerd namespace (default $CONTAINERD_NAMESPACE, else gocompose)")
	f.StringVar(&g.ansi, "ansi", "auto", `Control when to print ANSI control characters ("never"|"always"|"auto")`)
	f.StringVar(&g.progress, "progress", "auto", `Set type of progress output (auto, tty, plain, json, quiet)`)
	f.BoolVar(&g.dryRun, "dry-run", false, "Execute command in dry run mode (not supported by gocompose)")
	f.StringArrayVar(&g.cniPath, "cni-path", nil, "Directories holding CNI plugins (default /usr/lib/cni, /opt/cni/bin)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		// containerd's client logs each resolver step at info level; a
		// user sees our progress lines and errors instead.
		_ = clog.SetLevel("warn")
		if g.dryRun {
			return fmt.Errorf("--dry-run is not supported by gocompose yet")
		}
		return nil
	}
	root.AddCommand(
		upCmd(g), createCmd(g), downCmd(g), psCmd(g), logsCmd(g), startCmd(g), stopCmd(g),
		restartCmd(g), killCmd(g), rmCmd(g), pauseCmd(g), unpauseCmd(g), execCmd(g), runCmd(g),
		topCmd(g), portCmd(g), imagesCmd(g), configCmd(g), lsCmd(g), versionCmd(), imageCmd(g),
		supervisorCmd(g), buildCmd(g), networkCmd(g), builderCmd(g), waitCmd(g), scaleCmd(g), eventsCmd(g), volumeCmd(g),
		pullCmd(g), pushCmd(g), volumesCmd(g), cpCmd(g), statsCmd(g), exportCmd(g), commitCmd(g),
	)
	return root
}

// registries reads where credentials and hosts.toml files are: the docker
// CLI's config (DOCKER_CONFIG or ~/.docker) and GOCOMPOSE_HOSTS_DIR (a
// colon-separated list) or containerd's and Docker's certs.d directories.
func registries() runtime.Registries {
	dirs := runtime.DefaultHostsDirs()
	if v := os.Getenv("GOCOMPOSE_HOSTS_DIR"); v != "" {
		dirs = filepath.SplitList(v)
	}
	return runtime.Registries{HostsDirs: dirs, Credentials: auth.Credentials(auth.Dir())}
}
