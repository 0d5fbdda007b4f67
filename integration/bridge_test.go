package integration

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// bridge convert runs its conversion in gocompose-bridge: through the CLI
// the files written are the ones kube's golden files hold (the project
// handed over and loaded again loses nothing), warnings go to stderr and
// the summary to stdout; a gocompose without the helper says what is
// missing.
func TestBridgeConvertRunsInItsHelper(t *testing.T) {
	projectDir, err := filepath.Abs(filepath.Join("..", "kube", "testdata", "all"))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"kubernetes", "helm"} {
		out := filepath.Join(t.TempDir(), "out")
		r := gcRun(projectDir, nil, "bridge", "convert", "--host-paths", "--format", format, "-o", out)
		if r.code != 0 {
			t.Fatalf("bridge convert --format %s: %s", format, r)
		}
		want := goldenFiles(t, filepath.Join("..", "kube", "testdata", "all."+format+".golden"), projectDir)
		if len(want) < 10 {
			t.Fatalf("%s: the golden file holds %d files", format, len(want))
		}
		got := map[string]string{}
		err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			st, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(out, p)
			got[rel] = fmt.Sprintf("(%o)\n%s", st.Mode().Perm(), b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d files written, the golden file has %d", format, len(got), len(want))
		}
		for path, w := range want {
			if got[path] != w {
				t.Errorf("%s: %s written as:\n%s\nwant:\n%s", format, path, got[path], w)
			}
		}
		summary := regexp.MustCompile(`^Kubernetes resource files written to ` + regexp.QuoteMeta(out) + ` \((\d+) files, namespace allfields\)\n$`)
		if m := summary.FindStringSubmatch(r.stdout); m == nil || m[1] != fmt.Sprint(len(want)) {
			t.Errorf("%s: stdout %q", format, r.stdout)
		}
		if !strings.Contains(r.stderr, "WARN[0000] service ") {
			t.Errorf("%s: no warning on stderr:\n%s", format, r.stderr)
		}
	}

	// An error of the conversion is the command's.
	if r := gcRun(projectDir, nil, "bridge", "convert", "-o", filepath.Join(t.TempDir(), "o")); r.code == 0 || !strings.Contains(r.stderr, "--host-paths") {
		t.Errorf("bridge convert of bind mounts without --host-paths: %s", r)
	}

	msg, err := withoutHelpers(t, projectDir, "bridge", "convert", "--host-paths", "-o", filepath.Join(t.TempDir(), "o"))
	if err == nil || !strings.Contains(string(msg), "gocompose-bridge not found beside gocompose or on PATH") {
		t.Errorf("bridge convert without gocompose-bridge: %v\n%s", err, msg)
	}
}

// goldenFiles reads one of kube's golden files ("=== PATH (MODE)" before
// each file) into "(MODE)\nDATA" by path, $PROJECT replaced by dir.
func goldenFiles(t *testing.T, golden, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("$PROJECT"), []byte(dir))
	files := map[string]string{}
	head := regexp.MustCompile(`(?m)^=== (\S+) (\(\d+\))\n`)
	idx := head.FindAllSubmatchIndex(b, -1)
	for i, m := range idx {
		end := len(b)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		data := strings.TrimSuffix(string(b[m[1]:end]), "\n") // render adds a newline after each file
		files[string(b[m[2]:m[3]])] = string(b[m[4]:m[5]]) + "\n" + data
	}
	return files
}
