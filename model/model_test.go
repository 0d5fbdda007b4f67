package model

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestConfigHash(t *testing.T) {
	t.Parallel()
	a := types.ServiceConfig{Name: "a"}
	a.Image = "busybox"
	h1, _ := ConfigHash(a, "sha256:1")
	three := 3
	a.Scale = &three
	a.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
	if h2, _ := ConfigHash(a, "sha256:1"); h1 != h2 {
		t.Error("scale or depends_on changed the config hash")
	}
	if h, _ := ConfigHash(a, "sha256:2"); h == h1 {
		t.Error("a new image digest did not change the config hash")
	}
	a.Environment = types.MappingWithEquals{"X": nil}
	if h3, _ := ConfigHash(a, "sha256:1"); h3 == h1 {
		t.Error("environment did not change the config hash")
	}
	// Containers made before the image digest was known keep the bare hash.
	if bare, _ := ConfigHash(a, ""); len(bare) != 64 {
		t.Errorf("bare hash %q", bare)
	}
}

func TestFromVolume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   types.ServiceVolumeConfig
		want Mount
		bad  bool
	}{
		{types.ServiceVolumeConfig{Type: "bind", Source: "/h", Target: "/c"}, Mount{Type: Bind, Source: "/h", Target: "/c", CreateHostPath: true}, false},
		{types.ServiceVolumeConfig{Type: "bind", Source: "/h", Target: "/c", ReadOnly: true, Bind: &types.ServiceVolumeBind{Propagation: "rshared"}},
			Mount{Type: Bind, Source: "/h", Target: "/c", ReadOnly: true, Propagation: "rshared"}, false},
		{types.ServiceVolumeConfig{Type: "tmpfs", Target: "/t", Tmpfs: &types.ServiceVolumeTmpfs{Size: 1024, Mode: 0o700}},
			Mount{Type: Tmpfs, Target: "/t", Size: 1024, Mode: 0o700}, false},
		{types.ServiceVolumeConfig{Type: "npipe", Source: "x", Target: "/p"}, Mount{}, true},
	} {
		got, err := FromVolume(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%+v: got %+v, %v", tc.in, got, err)
		}
	}
}
