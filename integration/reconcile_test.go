package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpIsIdempotentAndRecreatesOnlyChanged(t *testing.T) {
	requires(t)
	yaml := `
services:
  a:
    image: busybox
    command: sleep 1000
    stop_signal: SIGKILL
  b:
    image: busybox
    command: sleep 1000
    stop_grace_period: 1s
    environment:
      V: one
`
	dir := project(t, "recr", yaml)
	gc(t, dir, "up", "-d")
	pidOf := func(svc string) string {
		return gc(t, dir, "exec", "-T", svc, "cat", "/proc/1/stat").stdout
	}
	a0, b0 := pidOf("a"), pidOf("b")

	r := gc(t, dir, "up", "-d")
	if strings.Contains(r.stderr, "Creat") || strings.Contains(r.stderr, "Recreate") || strings.Contains(r.stderr, "Starting") {
		t.Errorf("second up touched containers:\n%s", r.stderr)
	}
	if pidOf("a") != a0 || pidOf("b") != b0 {
		t.Errorf("second up restarted containers")
	}

	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(strings.Replace(yaml, "V: one", "V: two", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r = gc(t, dir, "up", "-d")
	// a is reported Running (as Docker Compose does), not touched.
	if !strings.Contains(r.stderr, "Container recr-b-1 Recreate") || !strings.Contains(r.stderr, "Container recr-a-1 Running") ||
		strings.Contains(r.stderr, "recr-a-1 Recreate") || strings.Contains(r.stderr, "recr-a-1 Start") {
		t.Errorf("changed config: want only b recreated:\n%s", r.stderr)
	}
	if out := gc(t, dir, "exec", "-T", "b", "sh", "-c", "echo $V").stdout; out != "two\n" {
		t.Errorf("recreated b sees V=%q", out)
	}
	if pidOf("a") != a0 {
		t.Errorf("a was restarted by a change to b")
	}

	r = gc(t, dir, "up", "-d", "--force-recreate", "a")
	if !strings.Contains(r.stderr, "Container recr-a-1 Recreate") || strings.Contains(r.stderr, "recr-b-1") {
		t.Errorf("--force-recreate a:\n%s", r.stderr)
	}

	// An orphan is kept with a warning, then removed with --remove-orphans.
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  a:\n    image: busybox\n    command: sleep 1000\n    stop_signal: SIGKILL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = gc(t, dir, "up", "-d")
	if !strings.Contains(r.stderr, "Found orphan containers") {
		t.Errorf("orphan warning missing:\n%s", r.stderr)
	}
	r = gc(t, dir, "up", "-d", "--remove-orphans")
	if !strings.Contains(r.stderr, "Container recr-b-1 Removed") {
		t.Errorf("--remove-orphans:\n%s", r.stderr)
	}
	gc(t, dir, "down")
	assertNothingLeft(t, "recr")
}

func TestBadInputCreatesNothing(t *testing.T) {
	requires(t)
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"typo", "services:\n  web:\n    image: busybox\n    comand: sleep 1\n", []string{"compose.yaml:4:", "comand"}},
		{"badsize", "services:\n  ok:\n    image: busybox\n  web:\n    image: busybox\n    mem_limit: lots\n", []string{"compose.yaml:6:", "mem_limit"}},
		{"unsupported", "services:\n  ok:\n    image: busybox\n  web:\n    image: busybox\n    use_api_socket: true\n", []string{"compose.yaml:6:", `service "web"`, `"use_api_socket"`, "not supported"}},
		{"cycle", "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n", []string{"cycle"}},
		{"noimage", "services:\n  a:\n    image: nosuchimage:1\n    pull_policy: never\n    command: [\"true\"]\n", []string{"nosuchimage:1", "pull_policy is never"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t, "bad"+tc.name, tc.yaml)
			r := gcRun(dir, nil, "up", "-d")
			if r.code == 0 {
				t.Fatalf("up succeeded on bad input: %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "panic") {
				t.Errorf("panic:\n%s", r.stderr)
			}
			assertNothingLeft(t, "bad"+tc.name)
		})
	}
}

func TestForegroundUpAbortOnContainerExit(t *testing.T) {
	requires(t)
	dir := project(t, "fg", `
services:
  job:
    image: busybox
    command: ["sh", "-c", "echo working; sleep 0.3; echo done; exit 3"]
  side:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo side up; sleep 1000 & wait"]
`)
	r := gcRun(dir, nil, "up", "--abort-on-container-exit", "--exit-code-from", "job", "--no-color")
	if r.code != 3 {
		t.Fatalf("up --exit-code-from job: %s", r)
	}
	for _, want := range []string{"job-1  | working", "job-1  | done", "side-1 | side up", "job-1 exited with code 3", "Aborting on container exit..."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := states(ps(t, dir, "-a")); got["fg-side-1"] != "exited" {
		t.Errorf("side not stopped after abort: %v", got)
	}
}
