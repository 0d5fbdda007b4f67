package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A db that turns healthy after ~3 s; the app's very first request to it
// must succeed, and an init one-shot must have written its file first.
func TestServiceHealthyAndCompletedSuccessfully(t *testing.T) {
	requires(t)
	dir := project(t, "sched", `
services:
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; echo ok > /var/www/index.html; httpd -f -p 8080 -h /var/www & wait"]
    healthcheck:
      test: ["CMD-SHELL", "wget -qO- http://127.0.0.1:8080/ >/dev/null"]
      interval: 5s
      start_interval: 200ms
      start_period: 20s
  init:
    image: busybox
    command: ["sh", "-c", "echo seeded > /data/seed"]
    volumes: ["./data:/data"]
  app:
    image: busybox
    volumes: ["./data:/data"]
    command: ["sh", "-c", "cat /data/seed && wget -qO- http://db:8080/ && trap 'exit 0' TERM && sleep 100000 & wait"]
    depends_on:
      db:
        condition: service_healthy
      init:
        condition: service_completed_successfully
`)
	start := time.Now()
	r := gc(t, dir, "up", "-d", "--wait")
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("up returned after %v, before db could be healthy", took)
	}
	got := states(ps(t, dir, "-a"))
	if got["sched-app-1"] != "running" || got["sched-init-1"] != "exited" || got["sched-db-1"] != "running" {
		t.Fatalf("states after up --wait: %v\n%s", got, r.stderr)
	}
	logs := gc(t, dir, "logs", "--no-log-prefix", "app").stdout
	if logs != "seeded\nok\n" {
		t.Errorf("app's first request or seed failed: %q", logs)
	}
	var dbHealth string
	for _, e := range ps(t, dir) {
		if e.Service == "db" {
			dbHealth = e.Status
		}
	}
	if !strings.Contains(dbHealth, "(healthy)") {
		t.Errorf("db status %q lacks (healthy)", dbHealth)
	}
	gc(t, dir, "down")
}

func TestFailedInitStopsDependents(t *testing.T) {
	requires(t)
	dir := project(t, "schedfail", `
services:
  init:
    image: busybox
    command: ["sh", "-c", "echo migrating; exit 1"]
  app:
    image: busybox
    command: ["sh", "-c", "sleep 100000"]
    depends_on:
      init:
        condition: service_completed_successfully
`)
	r := gcRun(dir, nil, "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `"init" didn't complete successfully: exit 1`) {
		t.Fatalf("up with failing init: %s", r)
	}
	if got := states(ps(t, dir, "-a")); got["schedfail-app-1"] == "running" {
		t.Errorf("app started although init failed: %v", got)
	}
	gc(t, dir, "down")
}

func TestRestartPoliciesAndUserStop(t *testing.T) {
	requires(t)
	dir := project(t, "restart", `
services:
  flaky:
    image: busybox
    command: ["sh", "-c", "echo try; exit 2"]
    restart: on-failure:2
  always:
    image: busybox
    command: ["sh", "-c", "echo run; sleep 0.3; exit 0"]
    restart: always
`)
	gc(t, dir, "up", "-d")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l := gc(t, dir, "logs", "--no-log-prefix", "flaky").stdout
		if strings.Count(l, "try") >= 3 && states(ps(t, dir, "-a"))["restart-flaky-1"] == "exited" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // a fourth run would show by now
	if n := strings.Count(gc(t, dir, "logs", "--no-log-prefix", "flaky").stdout, "try"); n != 3 {
		b, _ := os.ReadFile(filepath.Join(state, "supervisor.log"))
		t.Errorf("on-failure:2 ran %d times, want 3; supervisor log:\n%s", n, b)
	}
	// always: it keeps coming back after exiting on its own...
	for time.Now().Before(deadline) {
		if strings.Count(gc(t, dir, "logs", "always").stdout, "run") >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := strings.Count(gc(t, dir, "logs", "always").stdout, "run"); n < 3 {
		t.Errorf("restart: always ran %d times", n)
	}
	// ...but a container the user stopped stays stopped.
	gc(t, dir, "stop", "always")
	time.Sleep(300 * time.Millisecond) // the log driver may still be writing the last run's line
	before := strings.Count(gc(t, dir, "logs", "always").stdout, "run")
	time.Sleep(1500 * time.Millisecond)
	if got := states(ps(t, dir, "-a")); got["restart-always-1"] != "exited" {
		t.Errorf("stopped container came back: %v", got)
	}
	if after := strings.Count(gc(t, dir, "logs", "always").stdout, "run"); after != before {
		t.Errorf("stopped container ran again (%d -> %d)", before, after)
	}
	gc(t, dir, "down")
}

// up --wait as Docker Compose v5.5 waits: a one-shot job that another
// service depends on with service_completed_successfully must exit 0
// (Exited); one nothing waits for that exits fails the wait, as any
// service that stops running does.
func TestUpWaitOneShot(t *testing.T) {
	requires(t)
	dir := project(t, "waitone", "services:\n  job:\n    image: busybox\n    command: [\"true\"]\n  svc:\n    image: busybox\n    command: [\"sleep\", \"100000\"]\n    stop_signal: SIGKILL\n    depends_on:\n      job: {condition: service_completed_successfully}\n")
	r := gcRun(dir, nil, "up", "-d", "--wait", "--wait-timeout", "20")
	if r.code != 0 {
		t.Fatalf("up --wait with a one-shot: %s", r)
	}
	for _, want := range []string{" Container waitone-job-1 Waiting \n", " Container waitone-job-1 Exited \n", " Container waitone-svc-1 Healthy \n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up --wait's progress lacks %q:\n%s", want, r.stderr)
		}
	}
	gc(t, dir, "down")
	alone := project(t, "waitalone", "services:\n  job:\n    image: busybox\n    command: [\"true\"]\n")
	if r := gcRun(alone, nil, "up", "-d", "--wait", "--wait-timeout", "20"); r.code == 0 || !strings.Contains(r.stderr, "container waitalone-job-1 exited (0)") {
		t.Errorf("up --wait of a one-shot nothing waits for: %s", r)
	}
	gc(t, alone, "down")
}
