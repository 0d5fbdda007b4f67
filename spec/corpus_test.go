package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The corpus (testdata/corpus) is compose files as projects write them:
// public sample stacks, self-hosting recipes and files using each field of
// the compose specification, every one accepted by Docker Compose v5.5
// (`docker compose config -q`, see testdata/corpus/README.md). gocompose
// must accept at least 97% of them as `up` loads them (the support check
// included), and each one it refuses has a refused.txt with what the
// error must say: file, line and field.
func TestCorpusAcceptance(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "corpus", "*", "compose.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	// Variables the files need from the shell, as their READMEs ask.
	t.Setenv("API_TOKEN", "t")
	t.Setenv("GH_TOKEN", "t")
	t.Setenv("INFLUX_ADMIN_PASSWORD", "p")
	accepted := 0
	for _, file := range dirs {
		dir := filepath.Dir(file)
		name := filepath.Base(dir)
		want, refusedByDesign := "", false
		if b, err := os.ReadFile(filepath.Join(dir, "refused.txt")); err == nil {
			want, refusedByDesign = strings.TrimSpace(string(b)), true
		}
		abs, _ := filepath.Abs(file)
		_, err := Load(t.Context(), Options{Files: []string{abs}})
		switch {
		case err == nil && refusedByDesign:
			t.Errorf("%s: accepted, but refused.txt says it is refused (%q): remove refused.txt", name, want)
		case err == nil:
			accepted++
		case !refusedByDesign:
			t.Errorf("%s: refused: %v", name, err)
		default:
			for _, w := range strings.Split(want, "\n") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: the error %q lacks %q", name, err, w)
				}
			}
			if !strings.Contains(err.Error(), abs+":") {
				t.Errorf("%s: the error %q does not name the file and line", name, err)
			}
		}
	}
	ratio := float64(accepted) / float64(len(dirs))
	t.Logf("accepted %d of %d corpus files (%.1f%%)", accepted, len(dirs), 100*ratio)
	if ratio < 0.97 {
		t.Errorf("accepted %d of %d corpus files (%.1f%%), want at least 97%%", accepted, len(dirs), 100*ratio)
	}
}
