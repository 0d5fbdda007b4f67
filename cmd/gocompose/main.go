// Command gocompose runs Compose files on containerd, with Docker Compose's
// command line. This package only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/term"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/gocompose/gocompose/app"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/display"
	"github.com/gocompose/gocompose/internal/auth"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/spec"
	"github.com/gocompose/gocompose/supervisor"
	"github.com/spf13/cobra"
)

// globals are the flags every command shares.
type globals struct {
	command    string // the running command's path below the root ("up", "image pull")
	detached   bool   // the command runs with -d/--detach
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
	// allResources creates every network and volume the file declares,
	// not only those its services use.
	allResources bool
	noAnsi       bool
	verbose      bool
	workdir      string
	compat       bool
}

// progressModes are --progress's values, as Docker Compose names them.
var progressModes = []string{"auto", "tty", "plain", "json", "quiet"}

// validate checks the global flags and applies the deprecated ones, with
// Docker Compose's messages.
func (g *globals) validate(cmd *cobra.Command) error {
	if g.compat {
		return fmt.Errorf("--compatibility is not supported by gocompose: container names always use '-' (Docker Compose v2 naming)")
	}
	if g.noAnsi {
		if g.ansi != "auto" {
			return fmt.Errorf(`cannot specify DEPRECATED "--no-ansi" and "--ansi". Please use only "--ansi"`)
		}
		g.ansi = "never"
		fmt.Fprint(os.Stderr, "option '--no-ansi' is DEPRECATED ! Please use '--ansi' instead.\n")
	}
	if v, ok := os.LookupEnv("COMPOSE_ANSI"); ok && !cmd.Flags().Changed("ansi") {
		g.ansi = v
	}
	if v := os.Getenv("NO_COLOR"); v != "" {
		g.ansi = "never"
	}
	if !slices.Contains([]string{"auto", "never", "always"}, g.ansi) {
		return fmt.Errorf("invalid --ansi %q: use never, always or auto", g.ansi)
	}
	if g.progress == "" {
		g.progress = "auto"
	}
	if g.progress == "none" {
		g.progress = "quiet"
	}
	switch g.progress {
	case "tty":
		if g.ansi == "never" {
			return fmt.Errorf("can't use --progress tty while ANSI support is disabled")
		}
	case "plain":
		if g.ansi == "always" {
			return fmt.Errorf("can't use --progress plain while ANSI support is forced")
		}
	case "auto", "json", "quiet":
	default:
		return fmt.Errorf("unsupported --progress value %q: use one of %s", g.progress, strings.Join(progressModes, ", "))
	}
	if g.workdir != "" {
		if g.projectDir != "" {
			return fmt.Errorf(`cannot specify DEPRECATED "--workdir" and "--project-directory". Please use only "--project-directory" instead`)
		}
		g.projectDir = g.workdir
		fmt.Fprint(os.Stderr, "option '--workdir' is DEPRECATED at root level! Please use '--project-directory' instead.\n")
	}
	if g.verbose {
		_ = clog.SetLevel("debug")
	}
	return nil
}

func (g *globals) specOptions() spec.Options {
	return spec.Options{Files: g.files, ProjectName: g.project, ProjectDirectory: g.projectDir,
		EnvFiles: g.envFiles, Profiles: g.profiles}
}

// connect opens containerd and builds the App; the returned context carries
// the command's lease (see runtime.CommandLease), which closing ends.
func (g *globals) connect(ctx context.Context) (*app.App, context.Context, func(), error) {
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
		return nil, ctx, nil, err
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
		return nil, ctx, nil, err
	}
	// COMPOSE_STATUS_STDOUT sends progress to stdout, as Docker Compose does.
	status := io.Writer(os.Stderr)
	if envBool("COMPOSE_STATUS_STDOUT") {
		status = os.Stdout
	}
	a := &app.App{Engine: rt, In: os.Stdin, Out: os.Stdout, Err: status, LockDir: paths.Locks(), Parallel: par,
		Quiet: g.progress == "quiet", JSONProgress: g.progress == "json",
		Net: network.NewManager(paths.Root(), g.cniPath), StateDir: paths.State(), RootDir: paths.Root(),
		DNS:     dnsControl{state: paths.State(), address: rt.Address(), exe: exe},
		Builder: &builder{unpack: rt.Image, updated: rt.ImageUpdated, helper: build.Helper{Daemon: build.Daemon{Containerd: rt.Address(), Namespace: rt.Namespace(), State: paths.State(), Root: paths.Root()}}}}
	if g.dryRun {
		a.DryRun()
	}
	var d *display.TTY
	if fd := int(os.Stderr.Fd()); status == os.Stderr && !g.dryRun && liveDisplay[g.command] && (g.progress == "tty" || g.progress == "auto" && term.IsTerminal(fd)) {
		d = display.NewTTY(os.Stderr, operation(g.command), func() int { w, _, _ := term.GetSize(fd); return w }, g.ansi != "never")
		d.Start()
		a.Display = d
		a.HideStarts = g.command != "start" && !g.detached
	}
	lctx, done, err := rt.CommandLease(ctx)
	if err != nil {
		rt.Close()
		return nil, ctx, nil, err
	}
	return a, lctx, func() {
		if d != nil {
			d.Done()
		}
		done()
		rt.Close()
	}, nil
}

// liveDisplay are the commands whose output is their progress: they get
// the live display in a terminal (up stops it before following logs).
var liveDisplay = map[string]bool{
	"up": true, "down": true, "create": true, "start": true, "stop": true, "restart": true,
	"rm": true, "kill": true, "pause": true, "unpause": true, "scale": true, "pull": true,
	"push": true, "build": true, "bundle up": true, "bundle load": true,
}

// operation is the name Docker Compose's live display gives a command's
// work in its header ("[+] up 3/3").
func operation(command string) string {
	switch command {
	case "rm":
		return "remove"
	case "bundle up":
		return "up"
	case "bundle load":
		return "load"
	}
	return command
}

// builder runs builds in gocompose-build (build.Helper) and unpacks what
// they made.
type builder struct {
	helper  build.Helper
	unpack  func(ctx context.Context, ref string) (containerd.Image, error) // runtime.Image
	updated func(ctx context.Context, ref string) (time.Time, error)        // runtime.ImageUpdated
}

func (b *builder) Prune(ctx context.Context, all bool) (int64, error) {
	return b.helper.Prune(ctx, all)
}

func (b *builder) Check(ctx context.Context, req build.Request) (build.CheckResult, error) {
	return b.helper.Check(ctx, req)
}

func (b *builder) Build(ctx context.Context, req build.Request, out io.Writer, progress string) (build.Result, error) {
	// Two builds exporting into containerd at once can lose a blob of the
	// image just named to containerd's GC (BuildKit releases its lease
	// before the image record holds the blob: moby/buildkit#3921, #6521).
	// The image is then checked, and built once more when it lost
	// content: from cache, so it costs a re-export.
	res, err := b.buildOnce(ctx, req, out, progress)
	if errors.Is(err, errdefs.ErrNotFound) && ctx.Err() == nil {
		fmt.Fprintf(out, "WARN[0000] %s lost content while it was exported (%v): building it again\n", runtime.FamiliarImage(req.Tags[0]), err)
		res, err = b.buildOnce(ctx, req, out, progress)
	}
	return res, err
}

// buildOnce builds and checks the image: named, with its content, and
// unpacked for this host's containers.
func (b *builder) buildOnce(ctx context.Context, req build.Request, out io.Writer, progress string) (build.Result, error) {
	start := time.Now()
	res, err := b.helper.Build(ctx, req, out, progress)
	if err != nil {
		// BuildKit can fail a build after its image is exported and
		// named, recording its own history ("unknown blob … in
		// history"): the image is there; its check below says whether it
		// is whole.
		updated, uerr := b.updated(ctx, req.Tags[0])
		if uerr != nil || updated.Before(start) {
			return res, err
		}
		fmt.Fprintf(out, "WARN[0000] %s was built and named, but BuildKit failed afterwards: %v\n", runtime.FamiliarImage(req.Tags[0]), err)
	}
	// An image built only for other platforms is not unpacked here
	// (BuildKit's exporter skipped those too); it cannot run on this host.
	// Of a multi-platform image, the host's manifest is unpacked.
	if req.Platform != "" {
		host := false
		for _, v := range strings.Split(req.Platform, ",") {
			if p, err := platforms.Parse(v); err == nil && platforms.Default().Match(p) {
				host = true
			}
		}
		if !host {
			return res, nil
		}
	}
	if _, err := b.unpack(ctx, req.Tags[0]); err != nil {
		return res, fmt.Errorf("built image: %w", err)
	}
	return res, nil
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
	if len(os.Args) > 1 && os.Args[1] == runtime.HoldArg {
		runtime.RunHold(os.Args[2:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C cancels the command, which stops gracefully; after
	// it the default action is back, so a second one ends the process at
	// once (the next command finishes or undoes what it left).
	go func() { <-ctx.Done(); stop() }()
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
		// Without a RunE cobra prints the help for an unknown command and
		// exits 0, so a CI step calling a missing command would pass.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			_ = cmd.Help()
			return fmt.Errorf("unknown gocompose command: %q", args[0])
		},
	}
	root.SetVersionTemplate("gocompose version v{{.Version}}\n")
	// Global flags go before the command, as with docker compose; so
	// `logs -f` can mean --follow.
	root.TraverseChildren = true
	f := root.Flags()
	f.StringArrayVarP(&g.files, "file", "f", nil, "Compose configuration files")
	f.StringVarP(&g.project, "project-name", "p", "", "Project name")
	f.StringVar(&g.projectDir, "project-directory", "", "Specify an alternate working directory (default: the path of the first specified Compose file)")
	f.StringArrayVar(&g.envFiles, "env-file", commaList(os.Getenv("COMPOSE_ENV_FILES")), "Specify an alternate environment file")
	f.StringArrayVar(&g.profiles, "profile", nil, "Specify a profile to enable")
	f.IntVar(&g.parallel, "parallel", -1, "Control max parallelism (default: $COMPOSE_PARALLEL_LIMIT, else 4 per CPU)")
	f.StringVar(&g.address, "address", "", "containerd socket (default $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock, else a private containerd)")
	f.StringVar(&g.namespace, "namespace", "", "containerd namespace (default $CONTAINERD_NAMESPACE, else gocompose)")
	f.StringVar(&g.ansi, "ansi", "auto", `Control when to print ANSI control characters ("never"|"always"|"auto")`)
	f.StringVar(&g.progress, "progress", os.Getenv("COMPOSE_PROGRESS"), `Set type of progress output (auto, tty, plain, json, quiet)`)
	root.PersistentFlags().BoolVar(&g.dryRun, "dry-run", false, "Execute command in dry run mode")
	f.BoolVar(&g.allResources, "all-resources", false, "Include all resources, even those not used by services")
	f.BoolVar(&g.compat, "compatibility", false, "Run compose in backward compatibility mode (not supported by gocompose)")
	f.BoolVar(&g.noAnsi, "no-ansi", false, "Do not print ANSI control characters (DEPRECATED)")
	f.BoolVar(&g.verbose, "verbose", false, "Show more output")
	f.StringVar(&g.workdir, "workdir", "", "DEPRECATED! USE --project-directory INSTEAD.")
	for _, hidden := range []string{"no-ansi", "verbose", "workdir"} {
		_ = f.MarkHidden(hidden)
	}
	f.StringArrayVar(&g.cniPath, "cni-path", nil, "Directories holding CNI plugins (default /usr/lib/cni, /opt/cni/bin)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		g.command = strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		g.detached, _ = cmd.Flags().GetBool("detach") // false where there is no -d
		// containerd's client logs each resolver step at info level; a
		// user sees our progress lines and errors instead.
		_ = clog.SetLevel("warn")
		if g.dryRun {
			if err := dryRunnable(cmd); err != nil {
				return err
			}
		}
		return g.validate(cmd.Root())
	}
	root.AddCommand(
		upCmd(g), createCmd(g), downCmd(g), psCmd(g), logsCmd(g), startCmd(g), stopCmd(g),
		restartCmd(g), killCmd(g), rmCmd(g), pauseCmd(g), unpauseCmd(g), execCmd(g), runCmd(g),
		topCmd(g), portCmd(g), imagesCmd(g), configCmd(g), lsCmd(g), versionCmd(), imageCmd(g),
		supervisorCmd(g), buildCmd(g), networkCmd(g), builderCmd(g), waitCmd(g), attachCmd(g), scaleCmd(g), eventsCmd(g), volumeCmd(g),
		pullCmd(g), pushCmd(g), volumesCmd(g), cpCmd(g), statsCmd(g), exportCmd(g), commitCmd(g), bridgeCmd(g), doctorCmd(g), bundleCmd(g), watchCmd(g),
	)
	return root
}

// dryRunnable refuses --dry-run for the commands a dry run cannot
// simulate (they move data or run processes whose output is the point);
// the others run with every change only recorded (app.DryRun), and the
// read-only ones as they are.
func dryRunnable(cmd *cobra.Command) error {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	switch path {
	case "exec", "attach", "cp", "commit", "export", "watch", "supervisor",
		"image load", "image save", "image rm", "image tag", "image prune",
		"volume rm", "volume prune", "network prune", "builder prune":
		return fmt.Errorf("--dry-run is not supported for %s", path)
	}
	return nil
}

// commaList splits a comma-separated environment value, as Docker Compose
// reads COMPOSE_ENV_FILES.
func commaList(v string) []string {
	return strings.FieldsFunc(v, func(c rune) bool { return c == ',' })
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
