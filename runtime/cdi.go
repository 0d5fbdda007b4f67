package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"
)

// GPUs and other devices through CDI, the Container Device Interface
// vendors publish specs for (nvidia-ctk cdi generate writes nvidia.com/gpu):
// `devices:` entries that are CDI names, `gpus:`, and the device requests
// of deploy.resources.reservations.devices.

// cdiSpecDirs are where CDI specs are read: GOCOMPOSE_CDI_SPEC_DIRS
// (colon-separated), else /etc/cdi and /var/run/cdi.
func cdiSpecDirs() []string {
	if v := os.Getenv("GOCOMPOSE_CDI_SPEC_DIRS"); v != "" {
		return filepath.SplitList(v)
	}
	return cdi.DefaultSpecDirs
}

// CDIDevices are the fully qualified CDI device names the service asks for.
func CDIDevices(svc types.ServiceConfig) ([]string, error) {
	var out []string
	for _, d := range svc.Devices {
		if parser.IsQualifiedName(d.Source) {
			out = append(out, d.Source)
		}
	}
	reqs := append([]types.DeviceRequest{}, svc.Gpus...)
	for i := range reqs {
		if len(reqs[i].Capabilities) == 0 {
			reqs[i].Capabilities = []string{"gpu"} // gpus: asks for GPUs
		}
	}
	if svc.Deploy != nil && svc.Deploy.Resources.Reservations != nil {
		reqs = append(reqs, svc.Deploy.Resources.Reservations.Devices...)
	}
	for _, r := range reqs {
		names, err := cdiNames(r)
		if err != nil {
			return nil, err
		}
		out = append(out, names...)
	}
	return out, nil
}

// cdiNames turns a device request into CDI names: driver cdi names them
// in device_ids; a GPU request (driver nvidia or none) becomes
// nvidia.com/gpu=<id> for each device_id, =all for count all, =0…N-1 for
// count N.
func cdiNames(r types.DeviceRequest) ([]string, error) {
	if r.Driver == "cdi" {
		for _, id := range r.IDs {
			if !parser.IsQualifiedName(id) {
				return nil, fmt.Errorf("device_ids: %q is not a CDI device name (vendor.com/class=name)", id)
			}
		}
		return r.IDs, nil
	}
	gpu := false
	for _, c := range r.Capabilities {
		gpu = gpu || c == "gpu"
	}
	if !gpu || (r.Driver != "" && r.Driver != "nvidia") {
		return nil, fmt.Errorf("device request (driver %q, capabilities %v): only GPUs (driver nvidia) and driver cdi are supported, through CDI", r.Driver, r.Capabilities)
	}
	const kind = "nvidia.com/gpu"
	var out []string
	switch {
	case len(r.IDs) > 0:
		for _, id := range r.IDs {
			out = append(out, kind+"="+id)
		}
	case r.Count < 0 || r.Count == 0 && len(r.IDs) == 0:
		out = append(out, kind+"=all")
	default:
		for i := range int(r.Count) {
			out = append(out, fmt.Sprintf("%s=%d", kind, i))
		}
	}
	return out, nil
}

// withCDIDevices injects the service's CDI devices (device nodes, mounts,
// environment, hooks the vendor's spec names). A device no spec defines is
// an error naming where specs were looked for.
func withCDIDevices(svc types.ServiceConfig) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		names, err := CDIDevices(svc)
		if err != nil || len(names) == 0 {
			return err
		}
		cache, err := cdi.NewCache(cdi.WithSpecDirs(cdiSpecDirs()...), cdi.WithAutoRefresh(false))
		if err != nil {
			return fmt.Errorf("CDI: %w", err)
		}
		if unresolved, err := cache.InjectDevices(s, names...); err != nil {
			if len(unresolved) > 0 {
				return fmt.Errorf("CDI devices %s: no spec in %s defines them (install the vendor's CDI spec, e.g. nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml): %w",
					strings.Join(unresolved, ", "), strings.Join(cdiSpecDirs(), ", "), err)
			}
			return fmt.Errorf("CDI: %w", err)
		}
		return nil
	}
}
