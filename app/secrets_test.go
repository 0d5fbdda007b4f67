package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestSecretAndConfigTargets(t *testing.T) {
	p := &types.Project{
		Secrets: types.Secrets{"db": {Content: "x"}, "api": {Content: "y"}},
		Configs: types.Configs{"nginx": {Content: "z"}, "app": {Content: "w"}},
	}
	svc := types.ServiceConfig{ContainerSpec: types.ContainerSpec{
		Secrets: []types.ServiceSecretConfig{{Source: "db"}, {Source: "api", Target: "api_key"}, {Source: "db", Target: "/etc/db.pw"}},
		Configs: []types.ServiceConfigObjConfig{{Source: "nginx"}, {Source: "app", Target: "/etc/app.conf"}, {Source: "app", Target: "rel.conf"}},
	}}
	want := []string{"/run/secrets/db", "/run/secrets/api_key", "/etc/db.pw", "/nginx", "/etc/app.conf", "/rel.conf"}
	got := serviceFileObjects(p, svc)
	if len(got) != len(want) {
		t.Fatalf("got %d objects, want %d", len(got), len(want))
	}
	for i, o := range got {
		if o.target != want[i] {
			t.Errorf("%s %s: target %q, want %q", o.kind, o.ref.Source, o.target, want[i])
		}
	}
}

func TestFileObjectContent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &types.Project{Environment: types.Mapping{"TOKEN": "from-env"}}
	for _, tc := range []struct {
		obj  types.FileObjectConfig
		want string
		fail bool
	}{
		{types.FileObjectConfig{File: file}, "from-file", false},
		{types.FileObjectConfig{Environment: "TOKEN"}, "from-env", false},
		{types.FileObjectConfig{Content: "inline"}, "inline", false},
		{types.FileObjectConfig{Environment: "UNSET"}, "", true},
		{types.FileObjectConfig{File: file + ".missing"}, "", true},
		{types.FileObjectConfig{File: filepath.Dir(file)}, "", true},
	} {
		b, err := fileObject{obj: tc.obj}.content(p)
		if (err != nil) != tc.fail || string(b) != tc.want {
			t.Errorf("%+v: got %q, %v", tc.obj, b, err)
		}
	}
}
