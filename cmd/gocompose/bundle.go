package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/app"
	"github.com/spf13/cobra"
)

// bundleCmd moves a project to a host with no registry: one file with the
// project and its images, checked whole before anything changes.
func bundleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bundle CMD", Short: "Move a project and its images to a host without a registry, in one file"}

	var o app.BundleOptions
	var since, have string
	create := &cobra.Command{Use: "create -o FILE [OPTIONS] [SERVICE...]", Short: "Write the project and every image it runs into one file"}
	create.Flags().StringVarP(&o.Output, "output", "o", "", "The bundle file to write")
	create.Flags().BoolVar(&o.Secrets, "secrets", false, "Put the secrets' files in the bundle (mode 0600)")
	create.Flags().StringVar(&since, "since", "", "A delta: leave out the blobs of this earlier bundle, which the target loaded")
	create.Flags().StringVar(&have, "have", "", "A delta: leave out the blobs this file lists (the target's `bundle have`)")
	create.RunE = withProject(g, false, func(ctx context.Context, a *app.App, p *types.Project, args []string) error {
		if o.Output == "" {
			return errors.New("bundle create: -o FILE is required")
		}
		if since != "" && have != "" {
			return errors.New("bundle create: --since and --have are incompatible")
		}
		var err error
		if since != "" {
			o.Have, err = app.HaveFile(since, true)
		} else if have != "" {
			o.Have, err = app.HaveFile(have, false)
		}
		if err != nil {
			return err
		}
		o.Services = args
		return a.BundleCreate(ctx, p, o)
	})

	var dir string
	load := &cobra.Command{Use: "load [OPTIONS] FILE", Short: "Check a bundle whole, then load its images and write its project", Args: cobra.ExactArgs(1)}
	load.Flags().StringVar(&dir, "project-directory", "", "Where to write the project (default <root>/bundles/<project>)")
	load.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error {
		d, err := a.BundleLoad(ctx, args[0], dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.Out, "project written to %s\n", d)
		return nil
	})

	var upDir string
	up := &cobra.Command{Use: "up [OPTIONS] FILE", Short: "Load a bundle and run its project (up -d)", Args: cobra.ExactArgs(1)}
	up.Flags().StringVar(&upDir, "project-directory", "", "Where to write the project (default <root>/bundles/<project>)")
	var wait bool
	up.Flags().BoolVar(&wait, "wait", false, "Wait for services to be running|healthy")
	up.RunE = withApp(g, func(ctx context.Context, a *app.App, args []string) error {
		if err := a.EnsureDNS(ctx); err != nil {
			return err
		}
		return a.BundleUp(ctx, args[0], upDir, app.UpOptions{Wait: wait})
	})

	haveCmd := &cobra.Command{Use: "have", Short: "List the blobs this host holds (for bundle create --have)", Args: cobra.NoArgs}
	haveCmd.RunE = withApp(g, func(ctx context.Context, a *app.App, _ []string) error { return a.BundleHave(ctx) })

	cmd.AddCommand(create, load, up, haveCmd)
	return cmd
}
