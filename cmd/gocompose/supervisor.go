package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/gocompose/gocompose/app"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/supervisor"
	"github.com/spf13/cobra"
)

// bootNamespace brings back one namespace's containers after a reboot
// (app.Boot), from inside the supervisor: DNS reloads go to its own
// control socket.
func bootNamespace(ctx context.Context, g *globals, address, ns string, logf func(string, ...any)) error {
	rt, err := runtime.Connect(ctx, runtime.Config{Address: address, Namespace: ns})
	if err != nil {
		return err
	}
	defer rt.Close()
	out := logWriter{logf}
	a := &app.App{Engine: rt, In: strings.NewReader(""), Out: out, Err: out, LockDir: paths.Locks(),
		Net: network.NewManager(paths.Root(), g.cniPath), StateDir: paths.State(), RootDir: paths.Root(),
		DNS: selfDNS{state: paths.State()}}
	return a.Boot(ctx, logf)
}

// selfDNS is the supervisor's own DNS: it runs, so Ensure has nothing to do.
type selfDNS struct{ state string }

func (selfDNS) Ensure(context.Context) error       { return nil }
func (d selfDNS) Reload(ctx context.Context) error { return supervisor.Reload(ctx, d.state) }

// logWriter sends progress lines to the supervisor's log.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			w.logf("%s", strings.TrimSpace(l))
		}
	}
	return len(b), nil
}

func supervisorCmd(g *globals) *cobra.Command {
	var address string
	var watchdog bool
	cmd := &cobra.Command{
		Use:    "supervisor",
		Short:  "Run the per-host process that serves DNS to containers (started on demand by up)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if address == "" {
				address = g.address
			}
			if address == "" {
				address = os.Getenv("CONTAINERD_ADDRESS")
			}
			if address == "" {
				address = runtime.DefaultAddress
			}
			logger := log.New(os.Stderr, "supervisor: ", log.LstdFlags)
			if watchdog {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				return supervisor.Watch(cmd.Context(), paths.State(), exe, []string{"supervisor", "--address", address}, logger)
			}
			err := supervisor.Run(cmd.Context(), supervisor.Config{
				Address: address, State: paths.State(), Root: paths.Root(),
				Upstreams: supervisor.Upstreams(), Logger: logger,
				Boot: func(ctx context.Context, ns string, logf func(string, ...any)) error {
					return bootNamespace(ctx, g, address, ns, logf)
				},
			})
			if code := supervisor.ExitCode(err); code != 0 {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(code)
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&address, "address", "", "containerd socket")
	cmd.Flags().BoolVar(&watchdog, "watchdog", false, "Run the supervisor as a child and start it again when it dies")
	var unitPath, initScript string
	install := &cobra.Command{
		Use:   "install",
		Short: "Write a systemd unit (or an init script) so the supervisor starts at boot and brings back the containers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr := address
			if addr == "" {
				addr = runtime.DefaultAddress
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if initScript != "" {
				if err := supervisor.InstallInitScript(initScript, exe, addr, paths.Root(), paths.State()); err != nil {
					return err
				}
				fmt.Printf("wrote %s\nenable it with: update-rc.d gocompose-supervisor defaults && %s start\n", initScript, initScript)
				return nil
			}
			if err := supervisor.Install(unitPath, exe, addr, paths.Root(), paths.State()); err != nil {
				return err
			}
			fmt.Printf("wrote %s\nenable it with: systemctl daemon-reload && systemctl enable --now gocompose-supervisor\n", unitPath)
			return nil
		},
	}
	install.Flags().StringVar(&unitPath, "unit", supervisor.UnitPath, "where to write the unit file")
	install.Flags().StringVar(&initScript, "init-script", "", "write a SysV init script there instead of a systemd unit (hosts without systemd; e.g. "+supervisor.InitScriptPath+")")
	cmd.AddCommand(install)
	var bootNS string
	boot := &cobra.Command{
		Use:    "boot",
		Short:  "Bring back one namespace's containers after a reboot (run by gocompose-supervisor, once per boot)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr := address
			if addr == "" {
				addr = runtime.DefaultAddress
			}
			logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
			return bootNamespace(cmd.Context(), g, addr, bootNS, logf)
		},
	}
	boot.Flags().StringVar(&bootNS, "namespace", "", "containerd namespace")
	_ = boot.MarkFlagRequired("namespace")
	cmd.AddCommand(boot)
	return cmd
}
