package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/app"
	"github.com/gocompose/gocompose/spec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

type projectFn func(ctx context.Context, a *app.App, p *types.Project, args []string) error

// withProject loads the project (byName: a bare -p name is enough) and
// connects to containerd before running fn.
func withProject(g *globals, byName bool, fn projectFn) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		var p *types.Project
		var err error
		if byName {
			p, err = spec.LoadOrName(ctx, g.specOptions())
		} else {
			p, err = spec.Load(ctx, g.specOptions())
		}
		if err != nil {
			return err
		}
		a, ctx, closeFn, err := g.connect(ctx)
		if err != nil {
			return err
		}
		defer closeFn()
		if err := a.EnsureDNS(ctx); err != nil {
			return err
		}
		return fn(ctx, a, p, args)
	}
}

type appFn func(ctx context.Context, a *app.App, args []string) error

// withApp connects to containerd (no project needed) before running fn.
func withApp(g *globals, fn appFn) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, ctx, closeFn, err := g.connect(cmd.Context())
		if err != nil {
			return err
		}
		defer closeFn()
		return fn(ctx, a, args)
	}
}

func timeoutFlag(cmd *cobra.Command) func() *time.Duration {
	var secs int
	cmd.Flags().IntVarP(&secs, "timeout", "t", 0, "Specify a shutdown timeout in seconds")
	return func() *time.Duration {
		if !cmd.Flags().Changed("timeout") {
			return nil
		}
		d := time.Duration(secs) * time.Second
		return &d
	}
}

func isTTY(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func logFormat(g *globals, noColor, noPrefix, timestamps bool) app.LogFormat {
	color := isTTY(os.Stdout)
	switch g.ansi {
	case "never":
		color = false
	case "always":
		color = true
	}
	return app.LogFormat{NoColor: noColor, NoPrefix: noPrefix, Timestamps: timestamps, ColorCapable: color}
}

func upCmd(g *globals) *cobra.Command {
	var o app.UpOptions
	var scale []string
	var noColor, noPrefix, timestamps, build, noBuild, wait bool
	cmd := &cobra.Command{Use: "up [OPTIONS] [SERVICE...]", Short: "Create and start containers"}
	timeout := timeoutFlag(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&o.Detach, "detach", "d", false, "Detached mode: Run containers in the background")
	fl.BoolVar(&o.ForceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fl.BoolVar(&o.NoRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	fl.BoolVar(&o.NoStart, "no-start", false, "Don't start the services after creating them")
	fl.BoolVar(&o.NoDeps, "no-deps", false, "Don't start linked services")
	fl.BoolVar(&o.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fl.BoolVar(&o.AbortOnContainerExit, "abort-on-container-exit", false, "Stops all containers if any container was stopped")
	fl.StringVar(&o.ExitCodeFrom, "exit-code-from", "", "Return the exit code of the selected service container")
	fl.StringArrayVar(&o.Attach, "attach", nil, "Restrict attaching to the specified services")
	fl.StringArrayVar(&o.NoAttach, "no-attach", nil, "Do not attach (stream logs) to the specified services")
	fl.StringArrayVar(&scale, "scale", nil, "Scale SERVICE to NUM instances")
	fl.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	fl.BoolVar(&noPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fl.BoolVar(&timestamps, "timestamps", false, "Show timestamps")
	fl.BoolVar(&build, "build", false, "Build images before starting containers")
	fl.BoolVar(&noBuild, "no-build", false, "Don't build an image, even if it's policy")
	fl.BoolVar(&wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode")
	fl.StringVar(&o.Pull, "pull", "", `Pull image before running ("always"|"missing"|"never"|"build"|"policy")`)
	fl.BoolVarP(&o.RenewAnonVolumes, "renew-anon-volumes", "V", false, "Recreate anonymous volumes instead of retrieving data from the previous containers")
	var waitTimeout int
	fl.IntVar(&waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	fl.BoolVar(&o.QuietPull, "quiet-pull", false, "Pull without printing progress information")
	fl.BoolVar(&o.QuietBuild, "quiet-build", false, "Suppress the build output")
	fl.BoolVar(&o.AbortOnContainerFailure, "abort-on-container-failure", false, "Stops all containers if any container exited with failure. Incompatible with -d")
	fl.BoolVar(&o.AttachDependencies, "attach-dependencies", false, "Automatically attach to log output of dependent services")
	fl.BoolVar(&o.AlwaysRecreateDeps, "always-recreate-deps", false, "Recreate dependent containers. Incompatible with --no-recreate.")
	yesFlag(cmd)
	var watch, menu bool
	fl.BoolVarP(&watch, "watch", "w", false, "Watch source code and rebuild/refresh containers when files are updated")
	fl.BoolVar(&menu, "menu", false, "Enable interactive shortcuts when running attached (not supported by gocompose)")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		o.Watch = watch
		if menu {
			return fmt.Errorf("up --menu is not supported by gocompose: it has no navigation menu")
		}
		if waitTimeout < 0 {
			return fmt.Errorf("--wait-timeout must be a non-negative integer")
		}
		o.Build, o.NoBuild = build, noBuild
		if wait {
			o.Detach, o.Wait = true, true
			o.WaitTimeout = time.Duration(waitTimeout) * time.Second
		}
		if !cmd.Flags().Changed("remove-orphans") {
			o.RemoveOrphans = envBool("COMPOSE_REMOVE_ORPHANS")
		}
		o.IgnoreOrphans = envBool("COMPOSE_IGNORE_ORPHANS")
		o.AllResources = g.allResources
		sc, err := parseScale(scale)
		if err != nil {
			return err
		}
		o.Scale, o.Services, o.Timeout = sc, args, timeout()
		o.Log = logFormat(g, noColor, noPrefix, timestamps)
		return a.Up(ctx, p, o)
	})
	return cmd
}

func watchCmd(g *globals) *cobra.Command {
	var o app.WatchOptions
	prune := true
	cmd := &cobra.Command{Use: "watch [SERVICE...]", Short: "Watch build context for service and rebuild/refresh containers when files are updated"}
	cmd.Flags().BoolVar(&o.NoUp, "no-up", false, "Do not build & start services before watching")
	cmd.Flags().BoolVar(&o.Quiet, "quiet", false, "hide build output")
	cmd.Flags().BoolVar(&prune, "prune", true, "Prune dangling images on rebuild")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if !prune {
			// containerd collects a rebuilt image's old content once no
			// name points at it: there is no dangling image to keep.
			return fmt.Errorf("watch --prune=false is not supported: containerd removes a rebuilt image's previous content once no name points at it")
		}
		o.Services = args
		return a.Watch(ctx, p, o)
	})
	return cmd
}

func parseScale(in []string) (map[string]int, error) {
	out := map[string]int{}
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("invalid --scale %q: want SERVICE=NUM", s)
		}
		out[k] = n
	}
	return out, nil
}

func createCmd(g *globals) *cobra.Command {
	var o app.UpOptions
	var scale []string
	cmd := &cobra.Command{Use: "create [OPTIONS] [SERVICE...]", Short: "Creates containers for a service"}
	fl := cmd.Flags()
	fl.BoolVar(&o.ForceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fl.BoolVar(&o.NoRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	fl.BoolVar(&o.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fl.StringVar(&o.Pull, "pull", "", `Pull image before running ("always"|"missing"|"never"|"build"|"policy")`)
	fl.BoolVar(&o.Build, "build", false, "Build images before starting containers")
	fl.BoolVar(&o.NoBuild, "no-build", false, "Don't build an image, even if it's policy")
	fl.BoolVar(&o.QuietPull, "quiet-pull", false, "Pull without printing progress information")
	fl.StringArrayVar(&scale, "scale", nil, "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.")
	yesFlag(cmd)
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		sc, err := parseScale(scale)
		if err != nil {
			return err
		}
		if !cmd.Flags().Changed("remove-orphans") {
			o.RemoveOrphans = envBool("COMPOSE_REMOVE_ORPHANS")
		}
		o.IgnoreOrphans = envBool("COMPOSE_IGNORE_ORPHANS")
		o.AllResources = g.allResources
		o.Services, o.NoStart, o.Detach, o.Scale = args, true, true, sc
		return a.Up(ctx, p, o)
	})
	return cmd
}

// yesFlag adds -y/--yes: gocompose never prompts, so every answer is
// already yes.
func yesFlag(cmd *cobra.Command) {
	cmd.Flags().BoolP("yes", "y", false, `Assume "yes" as answer to all prompts and run non-interactively (gocompose never prompts)`)
}

// envBool reads a boolean environment variable as Docker Compose does
// (strconv.ParseBool; unset or invalid is false).
func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}

func downCmd(g *globals) *cobra.Command {
	var o app.DownOptions
	var rmi string
	cmd := &cobra.Command{Use: "down [OPTIONS] [SERVICES]", Short: "Stop and remove containers, networks"}
	timeout := timeoutFlag(cmd)
	cmd.Flags().BoolVar(&o.RemoveOrphans, "remove-orphans", envBool("COMPOSE_REMOVE_ORPHANS"), "Remove containers for services not defined in the Compose file")
	cmd.Flags().BoolVarP(&o.Volumes, "volumes", "v", false, "Remove named volumes declared in the volumes section of the Compose file")
	cmd.Flags().StringVar(&rmi, "rmi", "", `Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		o.Rmi, o.Services = rmi, args
		o.Timeout = timeout()
		return a.Down(ctx, p, o)
	})
	return cmd
}

func psCmd(g *globals) *cobra.Command {
	var o app.PsOptions
	var filters []string
	cmd := &cobra.Command{Use: "ps [OPTIONS] [SERVICE...]", Short: "List containers"}
	fl := cmd.Flags()
	fl.BoolVarP(&o.All, "all", "a", false, "Show all stopped containers")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display IDs")
	fl.BoolVar(&o.ListServices, "services", false, "Display services")
	fl.StringArrayVar(&o.Status, "status", nil, "Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]")
	fl.StringArrayVar(&filters, "filter", nil, "Filter services by a property (supported filters: status)")
	fl.StringVar(&o.Format, "format", "table", "Format the output. Values: [table | json | TEMPLATE | table TEMPLATE] (Go template, as docker's)")
	fl.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	var orphans bool
	fl.BoolVar(&orphans, "orphans", true, "Include orphaned services (not declared by project)")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		o.NoOrphans = !orphans
		for _, f := range filters {
			k, v, _ := strings.Cut(f, "=")
			if k != "status" {
				return fmt.Errorf("invalid filter %q: only status=VALUE is supported", f)
			}
			o.Status = append(o.Status, v)
		}
		o.Services = args
		return a.Ps(ctx, p, o)
	})
	return cmd
}

func logsCmd(g *globals) *cobra.Command {
	var o app.LogsOptions
	var tail, since, until string
	var noColor, noPrefix, timestamps bool
	cmd := &cobra.Command{Use: "logs [OPTIONS] [SERVICE...]", Short: "View output from containers"}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	fl.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	fl.StringVar(&since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fl.StringVar(&until, "until", "", "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fl.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	fl.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	fl.BoolVar(&noPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fl.IntVar(&o.Index, "index", 0, "index of the container if service has multiple replicas")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if o.Index > 0 && len(args) != 1 {
			return fmt.Errorf("--index requires one service to be selected")
		}
		o.Tail = -1
		if tail != "all" {
			n, err := strconv.Atoi(tail)
			if err != nil {
				return fmt.Errorf("invalid --tail %q", tail)
			}
			if n >= 0 {
				o.Tail = n
			}
		}
		var err error
		if o.Since, err = parseTime(since); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		if o.Until, err = parseTime(until); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		o.Services, o.Format = args, logFormat(g, noColor, noPrefix, timestamps)
		return a.Logs(ctx, p, o)
	})
	return cmd
}

// parseTime accepts RFC 3339 times, Unix seconds, and durations ago ("42m").
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(int64(n), 0), nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time or duration", s)
}

func servicesCmd(g *globals, use, short string, byName bool, fn func(ctx context.Context, a *app.App, p *types.Project, services []string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.RunE = withProject(g, byName, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return fn(ctx, a, p, args)
	})
	return cmd
}

func startCmd(g *globals) *cobra.Command {
	var wait bool
	var waitTimeout int
	cmd := servicesCmd(g, "start [SERVICE...]", "Start services", false, func(ctx context.Context, a *app.App, p *types.Project, s []string) error {
		if waitTimeout < 0 {
			return fmt.Errorf("--wait-timeout must be a non-negative integer")
		}
		var w *time.Duration
		if wait {
			d := time.Duration(waitTimeout) * time.Second
			w = &d
		}
		return a.Start(ctx, p, s, w)
	})
	cmd.Flags().BoolVar(&wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode.")
	cmd.Flags().IntVar(&waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	return cmd
}

func stopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "stop [OPTIONS] [SERVICE...]", Short: "Stop services"}
	timeout := timeoutFlag(cmd)
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Stop(ctx, p, args, timeout())
	})
	return cmd
}

func restartCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "restart [OPTIONS] [SERVICE...]", Short: "Restart service containers"}
	timeout := timeoutFlag(cmd)
	var noDeps bool
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't restart dependent services")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Restart(ctx, p, args, timeout(), noDeps)
	})
	return cmd
}

func killCmd(g *globals) *cobra.Command {
	var sig string
	cmd := &cobra.Command{Use: "kill [OPTIONS] [SERVICE...]", Short: "Force stop service containers"}
	cmd.Flags().StringVarP(&sig, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	var removeOrphans bool
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Kill(ctx, p, args, sig, removeOrphans)
	})
	return cmd
}

func rmCmd(g *globals) *cobra.Command {
	var o app.RmOptions
	cmd := &cobra.Command{Use: "rm [OPTIONS] [SERVICE...]", Short: "Removes stopped service containers"}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Don't ask to confirm removal")
	cmd.Flags().BoolVarP(&o.Stop, "stop", "s", false, "Stop the containers, if required, before removing")
	cmd.Flags().BoolVarP(&o.Volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
	// Docker Compose keeps -a as a deprecated flag with no effect: rm
	// always removes the run containers of the services too.
	cmd.Flags().BoolP("all", "a", false, "Deprecated - no effect")
	_ = cmd.Flags().MarkHidden("all")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Rm(ctx, p, args, o)
	})
	return cmd
}

func pauseCmd(g *globals) *cobra.Command {
	return servicesCmd(g, "pause [SERVICE...]", "Pause services", true, func(ctx context.Context, a *app.App, p *types.Project, s []string) error {
		return a.Pause(ctx, p, s)
	})
}

func unpauseCmd(g *globals) *cobra.Command {
	return servicesCmd(g, "unpause [SERVICE...]", "Unpause services", true, func(ctx context.Context, a *app.App, p *types.Project, s []string) error {
		return a.Unpause(ctx, p, s)
	})
}

func topCmd(g *globals) *cobra.Command {
	return servicesCmd(g, "top [SERVICES...]", "Display the running processes", true, func(ctx context.Context, a *app.App, p *types.Project, s []string) error {
		return a.Top(ctx, p, s)
	})
}

// ttyFlags adds Docker Compose's terminal flags to exec and run: -T and
// --no-tty (--no-TTY, the legacy spelling, normalised to it), and the
// hidden -i/--interactive and -t/--tty that docker exec users type. It
// returns whether to allocate a terminal and whether to attach stdin.
func ttyFlags(cmd *cobra.Command, noTTYHelp string) func() (tty, interactive bool, err error) {
	fl := cmd.Flags()
	var noTTY, tty, interactive bool
	fl.BoolVarP(&noTTY, "no-tty", "T", !isTTY(os.Stdout), noTTYHelp)
	fl.BoolVarP(&interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fl.BoolVarP(&tty, "tty", "t", true, "Allocate a pseudo-TTY")
	_ = fl.MarkHidden("interactive")
	_ = fl.MarkHidden("tty")
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "no-TTY":
			name = "no-tty"
		case "volumes":
			name = "volume"
		case "labels":
			name = "label"
		}
		return pflag.NormalizedName(name)
	})
	return func() (bool, bool, error) {
		switch {
		case fl.Changed("tty") && fl.Changed("no-tty"):
			return false, false, fmt.Errorf("--tty and --no-tty can't be used together")
		case fl.Changed("tty"):
			noTTY = !tty
		case !fl.Changed("no-tty") && !fl.Changed("interactive") && !isTTY(os.Stdin):
			// By default a terminal only when there is one to attach to:
			// scripts pipe stdin.
			noTTY = true
		}
		return !noTTY, interactive, nil
	}
}

func execCmd(g *globals) *cobra.Command {
	var o app.ExecOptions
	cmd := &cobra.Command{Use: "exec [OPTIONS] SERVICE COMMAND [ARGS...]", Short: "Execute a command in a running container",
		Args: cobra.MinimumNArgs(2)}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&o.Detach, "detach", "d", false, "Detached mode: Run command in the background")
	fl.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
	fl.IntVar(&o.Index, "index", 0, "Index of the container if service has multiple replicas")
	fl.StringVarP(&o.User, "user", "u", "", "Run the command as this user")
	fl.StringVarP(&o.WorkDir, "workdir", "w", "", "Path to workdir directory for this command")
	fl.BoolVar(&o.Privileged, "privileged", false, "Give extended privileges to the process")
	terminal := ttyFlags(cmd, "Disable pseudo-TTY allocation. By default 'gocompose exec' allocates a TTY.")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		var err error
		if o.TTY, o.Interactive, err = terminal(); err != nil {
			return err
		}
		return a.Exec(ctx, p, args[0], args[1:], o)
	})
	return cmd
}

func runCmd(g *globals) *cobra.Command {
	var o app.RunOptions
	var entrypoint string
	var quiet bool
	cmd := &cobra.Command{Use: "run [OPTIONS] SERVICE [COMMAND] [ARGS...]", Short: "Run a one-off command on a service",
		Args: cobra.MinimumNArgs(1)}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&o.Detach, "detach", "d", false, "Run container in background and print container ID")
	fl.StringVar(&o.Name, "name", "", "Assign a name to the container")
	fl.BoolVar(&o.Remove, "rm", false, "Automatically remove the container when it exits")
	fl.BoolVar(&o.NoDeps, "no-deps", false, "Don't start linked services")
	fl.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
	fl.StringArrayVar(&o.EnvFiles, "env-from-file", nil, "Set environment variables from file")
	fl.StringArrayVarP(&o.Labels, "label", "l", nil, "Add or override a label")
	fl.StringArrayVarP(&o.Volumes, "volume", "v", nil, "Bind mount a volume")
	fl.StringVar(&entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	fl.StringVarP(&o.User, "user", "u", "", "Run as specified username or uid")
	fl.StringVarP(&o.WorkDir, "workdir", "w", "", "Working directory inside the container")
	fl.StringVar(&o.Pull, "pull", "", `Pull image before running ("always"|"missing"|"never"|"build"|"policy")`)
	fl.StringArrayVar(&o.CapAdd, "cap-add", nil, "Add Linux capabilities")
	fl.StringArrayVar(&o.CapDrop, "cap-drop", nil, "Drop Linux capabilities")
	fl.StringArrayVarP(&o.Publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fl.BoolVarP(&o.ServicePorts, "service-ports", "P", false, "Run command with all service's ports enabled and mapped to the host")
	fl.BoolVar(&o.UseAliases, "use-aliases", false, "Use the service's network useAliases in the network(s) the container connects to")
	fl.BoolVar(&o.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Don't print anything to STDOUT")
	fl.BoolVar(&o.QuietPull, "quiet-pull", false, "Pull without printing progress information")
	fl.BoolVar(&o.QuietBuild, "quiet-build", false, "Suppress progress output from the build process")
	fl.BoolVar(&o.Build, "build", false, "Build image before starting container")
	terminal := ttyFlags(cmd, "Disable pseudo-TTY allocation (default: auto-detected)")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if len(o.Publish) > 0 && o.ServicePorts {
			return fmt.Errorf("--service-ports and --publish are incompatible")
		}
		if cmd.Flags().Changed("entrypoint") {
			o.Entrypoint = &entrypoint
		}
		tty, interactive, err := terminal()
		if err != nil {
			return err
		}
		o.TTY, o.Interactive = tty && !o.Detach, interactive
		if quiet {
			a.Quiet, o.QuietPull, o.QuietBuild = true, true, true
		}
		return a.Run(ctx, p, args[0], args[1:], o)
	})
	return cmd
}

func portCmd(g *globals) *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{Use: "port [OPTIONS] SERVICE PRIVATE_PORT", Short: "Print the public port for a port binding",
		Args: cobra.ExactArgs(2)}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 1, "Index of the container if service has multiple replicas")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Port(ctx, p, args[0], args[1], protocol, index)
	})
	return cmd
}

func imagesCmd(g *globals) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{Use: "images [OPTIONS] [SERVICE...]", Short: "List images used by the created containers"}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Images(ctx, p, args, quiet, format)
	})
	return cmd
}

func cpCmd(g *globals) *cobra.Command {
	var o app.CpOptions
	cmd := &cobra.Command{Use: "cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n  gocompose cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files/folders between a service container and the local filesystem", Args: cobra.ExactArgs(2)}
	fl := cmd.Flags()
	fl.BoolVar(&o.All, "all", false, "Include containers created by the run command")
	fl.BoolVarP(&o.Archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	fl.BoolVarP(&o.FollowLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	fl.IntVar(&o.Index, "index", 0, "Index of the container if service has multiple replicas")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Cp(ctx, p, args[0], args[1], o)
	})
	return cmd
}

func statsCmd(g *globals) *cobra.Command {
	var o app.StatsOptions
	cmd := &cobra.Command{Use: "stats [OPTIONS] [SERVICE...]", Short: "Display a live stream of container(s) resource usage statistics"}
	fl := cmd.Flags()
	fl.BoolVarP(&o.All, "all", "a", false, "Show all containers (default shows just running)")
	fl.BoolVar(&o.NoStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	fl.StringVar(&o.Format, "format", "table", `Format output using "table" or "json"`)
	fl.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Stats(ctx, p, args, o)
	})
	return cmd
}

func exportCmd(g *globals) *cobra.Command {
	var output string
	var index int
	cmd := &cobra.Command{Use: "export [OPTIONS] SERVICE", Short: "Export a service container's filesystem as a tar archive", Args: cobra.ExactArgs(1)}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.Flags().IntVar(&index, "index", 0, "index of the container if service has multiple replicas")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if output == "" {
			if isTTY(os.Stdout) {
				return fmt.Errorf("export: refusing to write to a terminal: use -o FILE or redirect")
			}
			return a.Export(ctx, p, args[0], index, os.Stdout)
		}
		return writeAtomically(output, func(w io.Writer) error { return a.Export(ctx, p, args[0], index, w) })
	})
	return cmd
}

func commitCmd(g *globals) *cobra.Command {
	var o app.CommitOptions
	var pause bool
	var changes []string
	cmd := &cobra.Command{Use: "commit [OPTIONS] SERVICE REPOSITORY[:TAG]", Short: "Create a new image from a service container's changes", Args: cobra.ExactArgs(2)}
	fl := cmd.Flags()
	fl.StringVarP(&o.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fl.StringVarP(&o.Message, "message", "m", "", "Commit message")
	fl.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	fl.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image (not supported by gocompose)")
	fl.IntVar(&o.Index, "index", 0, "index of the container if service has multiple replicas")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if len(changes) > 0 {
			return fmt.Errorf("commit --change is not supported by gocompose yet")
		}
		o.NoPause = !pause
		return a.Commit(ctx, p, args[0], args[1], o)
	})
	return cmd
}

func volumesCmd(g *globals) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{Use: "volumes [OPTIONS] [SERVICE...]", Short: "List volumes"}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json | TEMPLATE | table TEMPLATE]")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.ProjectVolumes(p, args, quiet, format)
	})
	return cmd
}

func configCmd(g *globals) *cobra.Command {
	var o app.ConfigOptions
	cmd := &cobra.Command{Use: "config [OPTIONS] [SERVICE...]", Aliases: []string{"convert"}, Short: "Parse, resolve and render compose file in canonical format"}
	fl := cmd.Flags()
	fl.BoolVar(&o.Services, "services", false, "Print the service names, one per line")
	fl.BoolVar(&o.Volumes, "volumes", false, "Print the volume names, one per line")
	fl.BoolVar(&o.Images, "images", false, "Print the image names, one per line")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	fl.StringVar(&o.Format, "format", "yaml", "Format the output. Values: [yaml | json]")
	fl.BoolVar(&o.Networks, "networks", false, "Print the network names, one per line")
	fl.BoolVar(&o.Profiles, "profiles", false, "Print the profile names, one per line")
	fl.BoolVar(&o.Environment, "environment", false, "Print environment used for interpolation")
	var output string
	fl.StringVarP(&output, "output", "o", "", "Save to file (default to stdout)")
	var noInterpolate, noNormalize, noPathResolution, noConsistency, noEnvResolution bool
	fl.BoolVar(&noInterpolate, "no-interpolate", false, "Don't interpolate environment variables")
	fl.BoolVar(&noNormalize, "no-normalize", false, "Don't normalize compose model")
	fl.BoolVar(&noPathResolution, "no-path-resolution", false, "Don't resolve file paths")
	fl.BoolVar(&noConsistency, "no-consistency", false, "Don't check model consistency - warning: may produce invalid Compose output")
	fl.BoolVar(&noEnvResolution, "no-env-resolution", false, "Don't resolve service env files")
	var hash string
	fl.StringVar(&hash, "hash", "", `Print the service config hash, one per line ("SERVICE,…" or "*")`)
	var resolveDigests bool
	fl.BoolVar(&o.Variables, "variables", false, "Print model variables and default values.")
	fl.BoolVar(&resolveDigests, "resolve-image-digests", false, "Pin image tags to digests (of the images on this host)")
	fl.BoolVar(&o.LockImages, "lock-image-digests", false, "Produces an override file with image digests")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if hash != "" {
			// The hash of the config-hash label, which takes the image's
			// digest: the image store is read.
			p, err := spec.Load(cmd.Context(), g.specOptions())
			if err != nil {
				return err
			}
			a, ctx, closeFn, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			var services []string
			if hash != "*" {
				services = strings.Split(hash, ",")
			}
			return a.ConfigHash(ctx, p, services)
		}
		so := g.specOptions()
		so.Services = args
		o.FormatGiven = cmd.Flags().Changed("format")
		if o.Variables {
			if len(args) > 0 {
				fmt.Fprintln(os.Stderr, "WARN[0000] service filtering is not applied when --variables is set, variables from the full model will be rendered")
				so.Services = nil
			}
			noInterpolate = true
		}
		if o.LockImages {
			resolveDigests = true
		}
		so.NoInterpolate, so.NoNormalize, so.NoPathResolution = noInterpolate, noNormalize, noPathResolution
		so.NoConsistency, so.NoEnvResolution = noConsistency, noEnvResolution
		p, err := spec.LoadUnchecked(cmd.Context(), so)
		if err != nil {
			return err
		}
		for _, name := range p.ServiceNames() {
			if err := spec.EnvError(p.Services[name]); err != nil {
				return err
			}
		}
		if resolveDigests {
			a, ctx, closeFn, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			p, err = a.ResolveImageDigests(ctx, p)
			closeFn()
			if err != nil {
				return err
			}
		}
		out := io.Writer(os.Stdout)
		if output != "" {
			f, err := os.Create(output)
			if err != nil {
				return fmt.Errorf("config -o: %w", err)
			}
			defer f.Close()
			out = f
		}
		a := &app.App{Out: out, Err: os.Stderr}
		if err := a.Config(p, o); err != nil {
			return err
		}
		if f, ok := out.(*os.File); ok && f != os.Stdout {
			return f.Close()
		}
		return nil
	}
	return cmd
}

func lsCmd(g *globals) *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{Use: "ls [OPTIONS]", Short: "List running compose projects"}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all stopped Compose projects")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json | TEMPLATE]")
	var filters []string
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Filter output based on conditions provided (name=NAME|REGEXP)")
	cmd.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error {
		var names []string
		for _, f := range filters {
			k, v, _ := strings.Cut(f, "=")
			if k != "name" {
				return fmt.Errorf("invalid filter '%s'", k)
			}
			names = append(names, v)
		}
		return a.Ls(ctx, all, quiet, format, names...)
	})
	return cmd
}

func versionCmd() *cobra.Command {
	var short bool
	var format string
	cmd := &cobra.Command{Use: "version [OPTIONS]", Short: "Show the gocompose version information"}
	cmd.Flags().BoolVar(&short, "short", false, "Shows only the version number")
	cmd.Flags().StringVarP(&format, "format", "f", "pretty", "Format the output. Values: [pretty | json]")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case short:
			fmt.Println(app.Version)
		case format == "json":
			fmt.Printf("{\"version\":\"v%s\"}\n", app.Version)
		default:
			fmt.Printf("gocompose version v%s\n", app.Version)
		}
		return nil
	}
	return cmd
}

func imageCmd(g *globals) *cobra.Command {
	img := &cobra.Command{Use: "image", Short: "Manage images"}
	var input string
	load := &cobra.Command{Use: "load [OPTIONS]", Short: "Load an image from a tar archive (docker-archive or OCI, optionally gzipped) or STDIN"}
	load.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	load.RunE = func(cmd *cobra.Command, _ []string) error {
		in := os.Stdin
		if input != "" {
			f, err := os.Open(input)
			if err != nil {
				return fmt.Errorf("image load: %w", err)
			}
			defer f.Close()
			in = f
		} else if isTTY(os.Stdin) {
			return fmt.Errorf("image load: requested load from stdin, but stdin is empty")
		}
		a, ctx, closeFn, err := g.connect(cmd.Context())
		if err != nil {
			return err
		}
		defer closeFn()
		return a.ImageLoad(ctx, in)
	}
	var quiet bool
	ls := &cobra.Command{Use: "ls [OPTIONS]", Aliases: []string{"list"}, Short: "List images"}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image names")
	ls.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error {
		return a.ImageLs(ctx, quiet)
	})
	var output string
	save := &cobra.Command{Use: "save [OPTIONS] IMAGE [IMAGE...]", Short: "Save images to a tar archive (streamed to STDOUT by default)", Args: cobra.MinimumNArgs(1)}
	save.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	save.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error {
		if output == "" {
			if isTTY(os.Stdout) {
				return fmt.Errorf("image save: refusing to write to a terminal: use -o FILE or redirect")
			}
			return a.ImageSave(ctx, os.Stdout, args)
		}
		return writeAtomically(output, func(w io.Writer) error { return a.ImageSave(ctx, w, args) })
	})
	var force bool
	rm := &cobra.Command{Use: "rm [OPTIONS] IMAGE [IMAGE...]", Aliases: []string{"remove", "rmi"}, Short: "Remove images", Args: cobra.MinimumNArgs(1)}
	rm.Flags().BoolVarP(&force, "force", "f", false, "Remove even if a container uses the image")
	rm.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error { return a.ImageRm(ctx, args, force) })
	var all bool
	prune := &cobra.Command{Use: "prune [OPTIONS]", Short: "Remove unused images (untagged ones unless --all)"}
	prune.Flags().BoolVarP(&all, "all", "a", false, "Remove all images no container uses, not just dangling ones")
	prune.Flags().BoolP("force", "f", false, "Do not prompt for confirmation (gocompose never prompts)")
	prune.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error { return a.ImagePrune(ctx, all) })
	tag := &cobra.Command{Use: "tag SOURCE_IMAGE TARGET_IMAGE", Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", Args: cobra.ExactArgs(2)}
	tag.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error { return a.ImageTag(ctx, args[0], args[1]) })
	img.AddCommand(load, ls, save, rm, prune, tag)
	return img
}

// writeAtomically writes through a temporary file beside output and renames
// it into place, so an interrupted write never leaves a truncated file.
func writeAtomically(output string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), output)
}

func pullCmd(g *globals) *cobra.Command {
	var o app.PullOptions
	cmd := &cobra.Command{Use: "pull [OPTIONS] [SERVICE...]", Short: "Pull service images"}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Pull without printing progress information")
	fl.BoolVar(&o.IgnoreFailures, "ignore-pull-failures", false, "Pull what it can and ignores images with pull failures")
	fl.BoolVar(&o.IncludeDeps, "include-deps", false, "Also pull services declared as dependencies")
	fl.BoolVar(&o.IgnoreBuildable, "ignore-buildable", false, "Ignore images that can be built")
	fl.StringVar(&o.Policy, "policy", "", `Apply pull policy ("missing"|"always")`)
	// Deprecated in Docker Compose, which pulls in parallel either way;
	// gocompose too (bounded by --parallel).
	fl.Bool("parallel", true, "DEPRECATED pull multiple images in parallel")
	fl.Bool("no-parallel", true, "DEPRECATED disable parallel pulling")
	_ = fl.MarkHidden("parallel")
	_ = fl.MarkHidden("no-parallel")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		o.Services = args
		return a.Pull(ctx, p, o)
	})
	return cmd
}

func pushCmd(g *globals) *cobra.Command {
	var o app.PushOptions
	cmd := &cobra.Command{Use: "push [OPTIONS] [SERVICE...]", Short: "Push service images"}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Push without printing progress information")
	fl.BoolVar(&o.IgnoreFailures, "ignore-push-failures", false, "Push what it can and ignores images with push failures")
	fl.BoolVar(&o.IncludeDeps, "include-deps", false, "Also push images of services declared as dependencies")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		o.Services = args
		return a.Push(ctx, p, o)
	})
	return cmd
}

func buildCmd(g *globals) *cobra.Command {
	var o app.BuildOptions
	cmd := &cobra.Command{Use: "build [OPTIONS] [SERVICE...]", Short: "Build or rebuild services"}
	fl := cmd.Flags()
	fl.BoolVar(&o.NoCache, "no-cache", false, "Do not use cache when building the image")
	fl.BoolVar(&o.Pull, "pull", false, "Always attempt to pull a newer version of the image")
	fl.StringArrayVar(&o.Args, "build-arg", nil, "Set build-time variables for services")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Don't print anything to STDOUT")
	fl.StringVar(&o.Progress, "progress", "auto", "Set type of progress output (auto, tty, plain, quiet)")
	fl.BoolVar(&o.WithDeps, "with-dependencies", false, "Also build dependencies (transitively)")
	fl.BoolVar(&o.Push, "push", false, "Push service images")
	fl.StringVar(&o.Provenance, "provenance", "", `Add a provenance attestation ("true", "mode=min" or "mode=max")`)
	var sbom string
	fl.StringVar(&sbom, "sbom", "", "Add a SBOM attestation (refused: BuildKit's scanner image would have to be pulled)")
	fl.BoolVar(&o.Print, "print", false, "Print equivalent bake file")
	fl.BoolVar(&o.Check, "check", false, "Check build configuration")
	var sshFlags []string
	fl.StringArrayVar(&sshFlags, "ssh", nil, "Set SSH authentications used when building service images. (use 'default' for using your default SSH Agent)")
	var builderName, memory string
	fl.StringVar(&builderName, "builder", "", "Set builder to use (gocompose has one: its own buildkitd, \"default\")")
	fl.StringVarP(&memory, "memory", "m", "", "Set memory limit for the build container (refused: BuildKit has none)")
	// Docker Compose's deprecated no-ops, kept so scripts still run.
	for _, name := range []string{"parallel", "compress", "force-rm"} {
		fl.Bool(name, true, "DEPRECATED")
		_ = fl.MarkHidden(name)
	}
	fl.Bool("no-rm", false, "DEPRECATED")
	_ = fl.MarkHidden("no-rm")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if builderName == "" {
			builderName = os.Getenv("BUILDX_BUILDER")
		}
		if builderName != "" && builderName != "default" {
			return fmt.Errorf("builder %q is not available: gocompose builds with its own buildkitd (the builder \"default\")", builderName)
		}
		if memory != "" {
			return fmt.Errorf("build --memory: BuildKit cannot limit the memory of a build, so the limit would be ignored (Docker Compose ignores it too)")
		}
		switch {
		case sbom != "" && sbom != "false":
			return fmt.Errorf("build --sbom: BuildKit's SBOM scanner image would have to be pulled from a registry, which gocompose does not do for builds")
		}
		if p := o.Provenance; p != "" && p != "true" && p != "false" && !strings.HasPrefix(p, "mode=") {
			return fmt.Errorf("build --provenance %q: want true, false, mode=min or mode=max", p)
		}
		for _, v := range sshFlags {
			id, path, _ := strings.Cut(v, "=")
			o.SSH = append(o.SSH, types.SSHKey{ID: id, Path: path})
		}
		o.Services = args
		return a.Build(ctx, p, o)
	})
	return cmd
}

func networkCmd(g *globals) *cobra.Command {
	nw := &cobra.Command{Use: "network", Short: "Look at and clean up gocompose networks"}
	var quiet bool
	ls := &cobra.Command{Use: "ls [OPTIONS]", Aliases: []string{"list"}, Short: "List networks"}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display network names")
	ls.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error { return a.NetworkLs(ctx, quiet) })
	inspect := &cobra.Command{Use: "inspect NETWORK [NETWORK...]", Short: "Display detailed information on networks", Args: cobra.MinimumNArgs(1)}
	inspect.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error { return a.NetworkInspect(ctx, args) })
	prune := &cobra.Command{Use: "prune", Short: "Remove networks no container uses"}
	prune.Flags().BoolP("force", "f", false, "Do not prompt for confirmation (gocompose never prompts)")
	prune.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error { return a.NetworkPrune(ctx) })
	nw.AddCommand(ls, inspect, prune)
	return nw
}

func builderCmd(g *globals) *cobra.Command {
	b := &cobra.Command{Use: "builder", Short: "Manage the build cache"}
	var all bool
	prune := &cobra.Command{Use: "prune", Short: "Remove build cache"}
	prune.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	prune.Flags().BoolP("force", "f", false, "Do not prompt for confirmation (gocompose never prompts)")
	prune.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error {
		return a.BuilderPrune(ctx, all)
	})
	b.AddCommand(prune)
	return b
}

func attachCmd(g *globals) *cobra.Command {
	var o app.AttachOptions
	cmd := &cobra.Command{Use: "attach [OPTIONS] SERVICE", Short: "Attach local standard input, output, and error streams to a service's running container", Args: cobra.ExactArgs(1)}
	fl := cmd.Flags()
	fl.IntVar(&o.Index, "index", 0, "index of the container if service has multiple replicas.")
	fl.BoolVar(&o.NoStdin, "no-stdin", false, "Do not attach STDIN")
	fl.BoolVar(&o.SigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	fl.StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching from a container.")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Attach(ctx, p, args[0], o)
	})
	return cmd
}

func waitCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "wait SERVICE [SERVICE...] [OPTIONS]", Short: "Block until containers of all (or specified) services stop.", Args: cobra.MinimumNArgs(1)}
	var downProject bool
	cmd.Flags().BoolVar(&downProject, "down-project", false, "Drops project when the first container stops")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		return a.Wait(ctx, p, args, downProject)
	})
	return cmd
}

func scaleCmd(g *globals) *cobra.Command {
	var noDeps bool
	cmd := &cobra.Command{Use: "scale [SERVICE=REPLICAS...]", Short: "Scale services", Args: cobra.MinimumNArgs(1)}
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't start linked services")
	cmd.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		sc, err := parseScale(args)
		if err != nil {
			return err
		}
		var services []string
		for s := range sc {
			services = append(services, s)
		}
		return a.Up(ctx, p, app.UpOptions{Services: services, Scale: sc, Detach: true, NoRecreate: true, NoDeps: noDeps})
	})
	return cmd
}

func eventsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{Use: "events [OPTIONS] [SERVICE...]", Short: "Receive real time events from containers"}
	cmd.Flags().BoolVar(&asJSON, "json", false, "Output events as a stream of json objects")
	var since, until string
	cmd.Flags().StringVar(&since, "since", "", "Show all events created since timestamp (not in the past: gocompose keeps no event history)")
	cmd.Flags().StringVar(&until, "until", "", "Stream events until this timestamp")
	cmd.RunE = withProject(g, true, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		s, err := parseTime(since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		u, err := parseTime(until)
		if err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		return a.Events(ctx, p, args, asJSON, s, u)
	})
	return cmd
}

func volumeCmd(g *globals) *cobra.Command {
	v := &cobra.Command{Use: "volume", Short: "Manage named volumes"}
	var quiet, force bool
	ls := &cobra.Command{Use: "ls [OPTIONS]", Aliases: []string{"list"}, Short: "List volumes"}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	ls.RunE = withApp(g, func(_ context.Context, a *app.App, _ []string) error { return a.VolumeLs(quiet) })
	inspect := &cobra.Command{Use: "inspect VOLUME [VOLUME...]", Short: "Display detailed information on volumes", Args: cobra.MinimumNArgs(1)}
	inspect.RunE = withApp(g, func(_ context.Context, a *app.App, args []string) error { return a.VolumeInspect(args) })
	rm := &cobra.Command{Use: "rm [OPTIONS] VOLUME [VOLUME...]", Short: "Remove volumes", Args: cobra.MinimumNArgs(1)}
	rm.Flags().BoolVarP(&force, "force", "f", false, "Do not fail on volumes that do not exist (a volume in use is never removed)")
	rm.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error { return a.VolumeRm(ctx, args, force) })
	prune := &cobra.Command{Use: "prune", Short: "Remove volumes no container uses"}
	prune.Flags().BoolP("force", "f", false, "Do not prompt for confirmation (gocompose never prompts)")
	var all bool
	prune.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	prune.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error { return a.VolumePrune(ctx, all) })
	v.AddCommand(ls, inspect, rm, prune)
	return v
}
