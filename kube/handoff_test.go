package kube

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/gocompose/gocompose/bridge"
	"github.com/gocompose/gocompose/spec"
)

// gocompose-bridge converts the project the CLI loaded, handed over as
// compose YAML and loaded again (bridge.Request): every file of the corpus
// and of this package's testdata, with and without every profile, converts
// to the same files, in both formats, after the hand-off as before it, and
// what fails fails alike.
func TestConvertAfterHandOff(t *testing.T) {
	t.Setenv("API_TOKEN", "t") // what the corpus's READMEs ask the shell for
	t.Setenv("GH_TOKEN", "t")
	t.Setenv("INFLUX_ADMIN_PASSWORD", "p")
	files, err := filepath.Glob("../spec/testdata/corpus/*/compose.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	files = append(files, projects["all"], projects["seed"])
	converted := 0
	for i, f := range append(files, files...) {
		abs, _ := filepath.Abs(f)
		so := spec.Options{Files: []string{abs}}
		if i >= len(files) {
			so.Profiles = []string{"*"} // then with every profile's services
		}
		p, err := spec.LoadUnchecked(t.Context(), so)
		if err != nil {
			continue // the CLI stops there too
		}
		o := Options{HostPaths: true, Images: map[string]string{}}
		q, err := bridge.NewRequest(p, o, FormatKubernetes, "out")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		p2, err := q.Load(t.Context())
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		r1, err1 := Convert(p, o)
		r2, err2 := Convert(p2, q.Options)
		if err1 != nil || err2 != nil {
			if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
				t.Errorf("%s: converting before the hand-off: %v; after: %v", f, err1, err2)
			}
			continue
		}
		converted++
		for _, format := range []string{FormatKubernetes, FormatHelm} {
			a, err := Files(r1, p.Name, format)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Files(r2, p2.Name, format)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != len(b) {
				t.Errorf("%s, %s: %d files before the hand-off, %d after", f, format, len(a), len(b))
				continue
			}
			for i := range a {
				if a[i].Path != b[i].Path || a[i].Mode != b[i].Mode || !bytes.Equal(a[i].Data, b[i].Data) {
					t.Errorf("%s, %s: %s before the hand-off:\n%s\nafter (%s):\n%s", f, format, a[i].Path, a[i].Data, b[i].Path, b[i].Data)
					break
				}
			}
		}
	}
	if converted < 140 {
		t.Errorf("only %d of %d loads converted", converted, 2*len(files))
	}
}
