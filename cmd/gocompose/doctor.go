package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"

	"github.com/gocompose/gocompose/app"
	"github.com/gocompose/gocompose/doctor"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func doctorCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{Use: "doctor [OPTIONS]", Short: "Check that this host has what gocompose needs",
		Long: "Check each prerequisite (kernel, cgroups, overlayfs, netfilter, ip_forward, CNI plugins, containerd, runc,\n" +
			"buildkitd, disk, the DNS port, user namespaces) and print pass, warn or fail with the fix.\n" +
			"Exits 1 when a required check fails."}
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "table" && format != "json" {
			return fmt.Errorf("doctor --format %q: want table or json", format)
		}
		rs := doctor.Run(cmd.Context(), g.doctorHost())
		if format == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rs); err != nil {
				return err
			}
		} else {
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Check, r.Status, r.Detail)
				if r.Status != doctor.Pass && r.Fix != "" {
					fmt.Fprintf(tw, "\t\tfix: %s\n", r.Fix)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if doctor.Failed(rs) {
			return &app.ExitError{Code: 1}
		}
		return nil
	}
	return cmd
}

// doctorHost is this host, as the other commands would use it.
func (g *globals) doctorHost() doctor.Host {
	cni := g.cniPath
	if len(cni) == 0 {
		cni = network.DefaultCNIPaths
	}
	var besides []string
	if exe, err := os.Executable(); err == nil {
		besides = append(besides, filepath.Dir(exe))
	}
	addr := g.address
	if addr == "" {
		addr = os.Getenv("CONTAINERD_ADDRESS")
	}
	return doctor.Host{
		Proc: "/proc", Sys: "/sys", Euid: os.Geteuid(), LookPath: exec.LookPath, CNIPaths: cni,
		BesidePaths: besides, LoggerPaths: besides, DataRoot: paths.Root(),
		FreeBytes: func(path string) (uint64, error) {
			var st unix.Statfs_t
			if err := unix.Statfs(path, &st); err != nil {
				return 0, err
			}
			return st.Bavail * uint64(st.Bsize), nil
		},
		Netfilter: network.CheckFirewall,
		Containerd: func(ctx context.Context) (string, string, error) {
			return runtime.Probe(ctx, addr)
		},
	}
}
