package runtime

import (
	"os"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/runtime-spec/specs-go"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCDIDevices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"devices: [\"vendor.example/fpga=0\", \"/dev/null:/dev/null\"]", []string{"vendor.example/fpga=0"}},
		{"gpus: all", []string{"nvidia.com/gpu=all"}},
		{"deploy: {resources: {reservations: {devices: [{capabilities: [gpu], count: 2}]}}}", []string{"nvidia.com/gpu=0", "nvidia.com/gpu=1"}},
		{"deploy: {resources: {reservations: {devices: [{driver: nvidia, capabilities: [gpu], device_ids: [\"3\"]}]}}}", []string{"nvidia.com/gpu=3"}},
		{"deploy: {resources: {reservations: {devices: [{driver: cdi, capabilities: [gpu], device_ids: [\"vendor.example/npu=a\"]}]}}}", []string{"vendor.example/npu=a"}},
	} {
		got, err := CDIDevices(svc(t, tc.yaml))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.yaml, got, err, tc.want)
		}
	}
	if _, err := CDIDevices(svc(t, "deploy: {resources: {reservations: {devices: [{driver: amd, capabilities: [tpu]}]}}}")); err == nil {
		t.Error("a request CDI cannot express was accepted")
	}
}

const fakeGPUSpec = `cdiVersion: "0.6.0"
kind: "nvidia.com/gpu"
devices:
  - name: "0"
    containerEdits:
      env: ["FAKE_GPU=0"]
      deviceNodes:
        - {path: /dev/fakegpu0, hostPath: /dev/null}
containerEdits:
  env: ["FAKE_DRIVER=1"]
`

func TestCDIInjection(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fake.yaml"), []byte(fakeGPUSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCOMPOSE_CDI_SPEC_DIRS", dir)
	s := apply(t, oci.Compose(oci.WithDefaultSpec(), withCDIDevices(svc(t, "deploy: {resources: {reservations: {devices: [{capabilities: [gpu], device_ids: [\"0\"]}]}}}"))))
	env := strings.Join(s.Process.Env, " ")
	if !strings.Contains(env, "FAKE_GPU=0") || !strings.Contains(env, "FAKE_DRIVER=1") {
		t.Errorf("env %v", s.Process.Env)
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/fakegpu0" }) {
		t.Errorf("devices %+v", s.Linux.Devices)
	}
	// A device no spec defines: an error naming it and where specs were read.
	err := withCDIDevices(svc(t, "gpus: all"))(t.Context(), nil, nil, apply(t, oci.WithDefaultSpec()))
	if err == nil || !strings.Contains(err.Error(), "nvidia.com/gpu=all") || !strings.Contains(err.Error(), dir) {
		t.Errorf("unknown device: %v", err)
	}
}
