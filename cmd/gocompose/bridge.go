package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/gocompose/gocompose/kube"
	"github.com/gocompose/gocompose/spec"
	"github.com/spf13/cobra"
)

func bridgeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bridge CMD [OPTIONS]", Short: "Convert compose files into another model"}
	cmd.AddCommand(bridgeConvertCmd(g))
	return cmd
}

// bridgeConvertCmd is Docker Compose's `bridge convert`, done in-process
// (Docker runs a transformer image on dockerd): Kubernetes manifests or a
// Helm chart from the loaded project.
func bridgeConvertCmd(g *globals) *cobra.Command {
	var o kube.Options
	var output, format string
	var transformations []string
	var templates string
	cmd := &cobra.Command{
		Use:   "convert [OPTIONS] [COMPOSE_FILE...]",
		Short: "Convert compose files to Kubernetes manifests or a Helm chart",
		Long: "Convert compose files to Kubernetes manifests or a Helm chart, in-process. depends_on becomes init\n" +
			"containers that wait for the condition, healthchecks readiness, liveness and startup probes, networks\n" +
			"NetworkPolicies; what has no Kubernetes form is printed and written as a comment.",
	}
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", "out", "The output directory for the Kubernetes resources")
	fl.StringVar(&format, "format", kube.FormatKubernetes, "Output: kubernetes (manifests and a kustomization.yaml) or helm (a chart)")
	fl.StringVar(&o.Publish, "publish", kube.PublishLoadBalancer, "Published ports become Services of type loadbalancer or nodeport")
	fl.BoolVar(&o.HostPaths, "host-paths", false, "Map bind mounts to hostPath volumes (without it a bind mount is an error)")
	fl.StringVar(&o.WaitImage, "wait-image", kube.DefaultWaitImage, "Image (with kubectl) of the init containers that wait for depends_on conditions")
	fl.StringArrayVarP(&transformations, "transformation", "t", nil, "Transformation image (not supported: gocompose converts in-process)")
	fl.StringVar(&templates, "templates", "", "Directory containing transformation templates (not supported: gocompose converts in-process)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(transformations) > 0 || templates != "" {
			return errors.New("bridge convert: --transformation and --templates need Docker's transformer images; gocompose converts in-process (--format kubernetes|helm)")
		}
		so := g.specOptions()
		so.Files = append(so.Files, args...)
		p, err := spec.LoadUnchecked(cmd.Context(), so)
		if err != nil {
			return err
		}
		res, err := kube.Convert(p, o)
		if err != nil {
			return err
		}
		files, err := kube.Files(res, p.Name, format)
		if err != nil {
			return err
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(os.Stderr, "WARN[0000] %s\n", w)
		}
		if err := kube.Write(output, files); err != nil {
			return fmt.Errorf("bridge convert: %w", err)
		}
		fmt.Fprintf(os.Stdout, "Kubernetes resource files written to %s (%d files, namespace %s)\n", output, len(files), res.Namespace)
		return nil
	}
	return cmd
}
