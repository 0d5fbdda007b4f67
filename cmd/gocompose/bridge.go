package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/app"
	"github.com/gocompose/gocompose/bridge"
	"github.com/gocompose/gocompose/spec"
	"github.com/spf13/cobra"
)

func bridgeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bridge CMD [OPTIONS]", Short: "Convert compose files into another model"}
	cmd.AddCommand(bridgeConvertCmd(g))
	return cmd
}

// bridgeConvertCmd is Docker Compose's `bridge convert`, done on this host
// (Docker runs a transformer image on dockerd): Kubernetes manifests or a
// Helm chart from the loaded project, converted in gocompose-bridge (the
// executable that links the Kubernetes API types).
func bridgeConvertCmd(g *globals) *cobra.Command {
	var o bridge.Options
	var output, format string
	var transformations []string
	var templates, push string
	cmd := &cobra.Command{
		Use:   "convert [OPTIONS] [COMPOSE_FILE...]",
		Short: "Convert compose files to Kubernetes manifests or a Helm chart",
		Long: "Convert compose files to Kubernetes manifests or a Helm chart, on this host. depends_on becomes init\n" +
			"containers that wait for the condition, healthchecks readiness, liveness and startup probes, networks\n" +
			"NetworkPolicies; what has no Kubernetes form is printed and written as a comment.",
	}
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", "out", "The output directory for the Kubernetes resources")
	fl.StringVar(&format, "format", bridge.FormatKubernetes, "Output: kubernetes (manifests and a kustomization.yaml) or helm (a chart)")
	fl.StringVar(&o.Publish, "publish", bridge.PublishLoadBalancer, "Published ports become Services of type loadbalancer or nodeport")
	fl.BoolVar(&o.HostPaths, "host-paths", false, "Map bind mounts to hostPath volumes (without it a bind mount is an error)")
	fl.StringVar(&o.WaitImage, "wait-image", bridge.DefaultWaitImage, "Image (with kubectl) of the init containers that wait for depends_on conditions")
	fl.StringVar(&push, "push", "", "Build the services that have a build section, push them to REGISTRY (HOST[:PORT][/PATH]) and use the pushed images")
	fl.StringArrayVarP(&transformations, "transformation", "t", nil, "Transformation image (not supported: gocompose converts on this host)")
	fl.StringVar(&templates, "templates", "", "Directory containing transformation templates (not supported: gocompose converts on this host)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(transformations) > 0 || templates != "" {
			return errors.New("bridge convert: --transformation and --templates need Docker's transformer images; gocompose converts on this host (--format kubernetes|helm)")
		}
		so := g.specOptions()
		so.Files = append(so.Files, args...)
		p, err := spec.LoadUnchecked(cmd.Context(), so)
		if err != nil {
			return err
		}
		if push != "" {
			if o.Images, err = buildAndPush(cmd.Context(), g, p, push); err != nil {
				return err
			}
		}
		q, err := bridge.NewRequest(p, o, format, output)
		if err != nil {
			return err
		}
		res, err := bridge.Helper{}.Convert(cmd.Context(), q)
		for _, w := range res.Warnings {
			fmt.Fprintf(os.Stderr, "WARN[0000] %s\n", w)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "Kubernetes resource files written to %s (%d files, namespace %s)\n", output, res.Files, res.Namespace)
		return nil
	}
	return cmd
}

// buildAndPush builds the services with a build section under their name
// in registry, pushes them, and returns those names by service.
func buildAndPush(ctx context.Context, g *globals, p *types.Project, registry string) (map[string]string, error) {
	q := *p
	q.Services = maps.Clone(p.Services)
	images := map[string]string{}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(q.Services)) {
		svc := q.Services[name]
		if svc.Build == nil {
			continue
		}
		ref, err := bridge.PushedName(registry, app.ImageName(p, svc))
		if err != nil {
			return nil, fmt.Errorf("bridge convert --push: service %s: %w", name, err)
		}
		b := *svc.Build
		b.Tags = nil // only the pushed name goes to the registry
		svc.Build, svc.Image = &b, ref
		q.Services[name] = svc
		images[name] = ref
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, errors.New("bridge convert --push: no service has a build section")
	}
	a, ctx, closeFn, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	if err := a.Build(ctx, &q, app.BuildOptions{Services: names, Push: true}); err != nil {
		return nil, fmt.Errorf("bridge convert --push: %w", err)
	}
	return images, nil
}
