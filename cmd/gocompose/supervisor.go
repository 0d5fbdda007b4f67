package main

import (
	"fmt"
	"log"
	"os"

	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/supervisor"
	"github.com/spf13/cobra"
)

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
			})
			if code := supervisor.ExitCode(err); code != 0 {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "containerd socket")
	cmd.Flags().BoolVar(&watchdog, "watchdog", false, "Run the supervisor as a child and start it again when it dies")
	var unitPath string
	install := &cobra.Command{
		Use:   "install",
		Short: "Write a systemd unit so the supervisor (and restart policies) survive a reboot",
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr := address
			if addr == "" {
				addr = runtime.DefaultAddress
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if err := supervisor.Install(unitPath, exe, addr, paths.Root(), paths.State()); err != nil {
				return err
			}
			fmt.Printf("wrote %s\nenable it with: systemctl daemon-reload && systemctl enable --now gocompose-supervisor\n", unitPath)
			return nil
		},
	}
	install.Flags().StringVar(&unitPath, "unit", supervisor.UnitPath, "where to write the unit file")
	cmd.AddCommand(install)
	return cmd
}
