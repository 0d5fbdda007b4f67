package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestWatchRulesMatch(t *testing.T) {
	ctxDir := t.TempDir()
	svc := types.ServiceConfig{Name: "web", Develop: &types.DevelopConfig{Watch: []types.Trigger{
		{Path: filepath.Join(ctxDir, "src"), Action: types.WatchActionSync, Target: "/app", Ignore: []string{"*.tmp", "cache/"}},
		{Path: filepath.Join(ctxDir, "conf"), Action: types.WatchActionSyncRestart, Target: "/etc/web", Include: []string{"*.conf"}},
	}}}
	svc.Build = &types.BuildConfig{Context: ctxDir}
	if err := os.WriteFile(filepath.Join(ctxDir, ".dockerignore"), []byte("src/generated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, err := watchRules(svc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule   int
		path   string
		target string // "" for no match
	}{
		{0, "src/main.py", "/app/main.py"},
		{0, "src/pkg/util.py", "/app/pkg/util.py"},
		{0, "src/x.tmp", ""},
		{0, "src/cache/blob", ""},
		{0, "src/.git/HEAD", ""},
		{0, "src/notes.txt.swp", ""},
		{0, "other/main.py", ""},
		{0, "src/generated/x.py", ""},
		{0, "srcx/main.py", ""},
		{1, "conf/web.conf", "/etc/web/web.conf"},
		{1, "conf/readme.md", ""},
	} {
		m := rules[tc.rule].matches(filepath.Join(ctxDir, tc.path))
		got := ""
		if m != nil {
			got = m.container
		}
		if got != tc.target {
			t.Errorf("%s: mapped to %q, want %q", tc.path, got, tc.target)
		}
	}
}
