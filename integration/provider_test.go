package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// providerScript is a provider as Docker Compose runs them: it logs its
// arguments, describes its options (metadata) and, on up, reports progress
// and sets variables for its dependents; with GCTEST_PROVIDER_FAIL it
// fails as a provider reports failure.
const providerScript = `#!/bin/sh
echo "$*" >> "$GCTEST_PROVIDER_LOG"
if [ "$1 $2" = "compose metadata" ]; then
  echo '{"description":"test cloud","up":{"parameters":[{"name":"type","required":true},{"name":"size"}]},"down":{"parameters":[]},"stop":{"parameters":[]}}'
  exit 0
fi
case "$3" in
up)
  if [ -n "$GCTEST_PROVIDER_FAIL" ]; then
    echo '{"type":"error","message":"quota exceeded"}'
    exit 1
  fi
  echo '{"type":"info","message":"provisioning"}'
  echo '{"type":"debug","message":"not shown"}'
  echo '{"type":"setenv","message":"URL=mysql://db.example:3306"}'
  echo '{"type":"rawsetenv","message":"TOKEN=s3cret"}'
  ;;
down)
  echo '{"type":"info","message":"deprovisioning"}'
  ;;
esac
`

// A provider service runs its executable with Docker Compose's protocol:
// arguments (options filtered by the provider's metadata), progress,
// variables reaching its dependents' environment, stop and down after the
// dependents, and a failure reported before any dependent is made.
func TestProviderService(t *testing.T) {
	requires(t)
	bindir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bindir, "gctestcloud"), []byte(providerScript), 0o755); err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(t.TempDir(), "provider.log")
	env := []string{"PATH=" + bindir + ":" + os.Getenv("PATH"), "GCTEST_PROVIDER_LOG=" + logf}
	dir := project(t, "prov", fmt.Sprintf(`services:
  database:
    provider:
      type: gctestcloud
      options:
        type: mysql
        size: 256
        region: eu
  app:
    image: busybox
    command: %s
    depends_on: [database]
`, sleeper))
	calls := func() string {
		b, _ := os.ReadFile(logf)
		return string(b)
	}
	run := func(args ...string) result {
		t.Helper()
		r := gcRun(dir, env, args...)
		if r.code != 0 {
			t.Fatalf("gocompose %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	r := run("up", "-d")
	for _, want := range []string{" database Creating \n", " database provisioning \n", " database Created \n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up's progress lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "not shown") {
		t.Errorf("a debug message was shown:\n%s", r.stderr)
	}
	if i, j := strings.Index(r.stderr, " database Created "), strings.Index(r.stderr, " Container prov-app-1 Created "); i < 0 || j < i {
		t.Errorf("app was created before its provider was done:\n%s", r.stderr)
	}
	// region is not among the metadata's up options: not passed.
	if got := calls(); !strings.Contains(got, "compose --project-name=prov up --size=256 --type=mysql database\n") {
		t.Errorf("the provider's calls:\n%s", got)
	}
	out := gc(t, dir, "exec", "-T", "app", "env").stdout
	for _, want := range []string{"DATABASE_URL=mysql://db.example:3306\n", "TOKEN=s3cret\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("app's environment lacks %q:\n%s", want, out)
		}
	}
	// A run of a service that depends on the provider gets its variables.
	if out := run("run", "--rm", "-T", "app", "env").stdout; !strings.Contains(out, "DATABASE_URL=mysql://db.example:3306\n") {
		t.Errorf("run's environment lacks the provider's variable:\n%s", out)
	}
	run("stop")
	if got := calls(); !strings.Contains(got, "compose --project-name=prov stop database\n") {
		t.Errorf("stop did not stop the provider service:\n%s", got)
	}
	r = run("down")
	if !strings.Contains(r.stderr, " database Removed ") {
		t.Errorf("down's progress:\n%s", r.stderr)
	}
	if i, j := strings.Index(r.stderr, " Container prov-app-1 Removed "), strings.Index(r.stderr, " database Removing "); i < 0 || j < i {
		t.Errorf("the provider service went before its dependent:\n%s", r.stderr)
	}
	if got := calls(); !strings.Contains(got, "compose --project-name=prov down database\n") {
		t.Errorf("the provider's calls:\n%s", got)
	}
	assertNothingLeft(t, "prov")

	// A provider's error is the command's, and nothing depending on it is made.
	r = gcRun(dir, append(env, "GCTEST_PROVIDER_FAIL=1"), "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "quota exceeded") {
		t.Errorf("up with a failing provider: %s", r)
	}
	if ps := gc(t, dir, "ps", "-a", "-q").stdout; ps != "" {
		t.Errorf("containers after the provider failed: %q", ps)
	}
}
