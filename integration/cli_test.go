package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sleeper is a busybox service command that exits at once on SIGTERM.
const sleeper = `["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]`

func TestUnknownCommandAndFlagFail(t *testing.T) {
	requires(t)
	for _, args := range [][]string{{"up2"}, {"watchh", "web"}, {"up", "--bogus"}, {"ps", "--format", "table", "--nope"}} {
		r := gcRun(t.TempDir(), nil, args...)
		if r.code == 0 {
			t.Errorf("gocompose %v exited 0, want non-zero:\n%s", args, r)
		}
		last := strings.TrimSpace(r.stderr)
		if i := strings.LastIndex(last, "\n"); i >= 0 {
			last = last[i+1:]
		}
		if !strings.Contains(last, strings.TrimLeft(args[len(args)-1], "-")) && !strings.Contains(last, args[0]) {
			t.Errorf("gocompose %v: last error line %q does not name the command or flag", args, last)
		}
	}
}

func TestDownServicesTakesOnlyThoseAndDependents(t *testing.T) {
	requires(t)
	dir := project(t, "downsel", fmt.Sprintf(`
services:
  db:
    image: busybox
    command: %[1]s
  web:
    image: busybox
    command: %[1]s
    depends_on: [db]
  worker:
    image: busybox
    command: %[1]s
`, sleeper))
	gc(t, dir, "up", "-d")

	r := gc(t, dir, "down", "-t", "0", "web")
	if got := states(ps(t, dir, "-a")); len(got) != 2 || got["downsel-db-1"] != "running" || got["downsel-worker-1"] != "running" {
		t.Fatalf("after down web: want db and worker running, got %v\n%s", got, r)
	}
	if !strings.Contains(r.stderr, "Network downsel_default Resource is still in use") {
		t.Errorf("down web should keep the network in use:\n%s", r.stderr)
	}

	gc(t, dir, "up", "-d")
	r = gc(t, dir, "down", "-t", "0", "db") // web depends on db: it goes too
	if got := states(ps(t, dir, "-a")); len(got) != 1 || got["downsel-worker-1"] != "running" {
		t.Fatalf("after down db: want only worker, got %v\n%s", got, r)
	}
	if r := gcRun(dir, nil, "down", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "no such service: nosuch") {
		t.Errorf("down of an unknown service: %s", r)
	}
	r = gc(t, dir, "down", "-t", "0")
	if !strings.Contains(r.stderr, "Network downsel_default Removed") || len(ps(t, dir, "-a")) != 0 {
		t.Errorf("last down should remove the rest:\n%s", r)
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestContainerIDsAndPsJSON(t *testing.T) {
	requires(t)
	vol := t.TempDir()
	dir := project(t, "ids", fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %s
    ports: ["127.0.0.1:18941:8080"]
    volumes: [data:/data, %s:/host]
volumes:
  data: {}
`, sleeper, vol))
	gc(t, dir, "up", "-d")
	id1 := strings.TrimSpace(gc(t, dir, "ps", "-q").stdout)
	if !hex64.MatchString(id1) {
		t.Fatalf("ps -q = %q, want a 64-hex ID", id1)
	}
	gc(t, dir, "restart", "-t", "0")
	if id := strings.TrimSpace(gc(t, dir, "ps", "-q").stdout); id != id1 {
		t.Errorf("restart changed the ID: %s -> %s", id1, id)
	}
	gc(t, dir, "up", "-d", "--force-recreate", "-t", "0")
	id2 := strings.TrimSpace(gc(t, dir, "ps", "-q").stdout)
	if id2 == id1 || !hex64.MatchString(id2) {
		t.Errorf("a recreated container must get a new ID: %s -> %s", id1, id2)
	}

	var e struct {
		ID, Networks, Mounts, LocalVolumes string
		Publishers                         []struct {
			URL                       string
			TargetPort, PublishedPort int
			Protocol                  string
		}
	}
	line := gc(t, dir, "ps", "--format", "json", "--no-trunc").stdout
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("ps json %q: %v", line, err)
	}
	if e.ID != id2 || e.Networks != "ids_default" || e.LocalVolumes != "1" ||
		e.Mounts != "ids_data,"+vol && e.Mounts != vol+",ids_data" {
		t.Errorf("ps json: %+v", e)
	}
	if len(e.Publishers) != 1 || e.Publishers[0].URL != "127.0.0.1" || e.Publishers[0].PublishedPort != 18941 ||
		e.Publishers[0].TargetPort != 8080 || e.Publishers[0].Protocol != "tcp" {
		t.Errorf("ps json Publishers: %+v", e.Publishers)
	}
	if err := json.Unmarshal([]byte(gc(t, dir, "ps", "--format", "json").stdout), &e); err != nil || e.ID != id2[:12] {
		t.Errorf("ps json without --no-trunc: ID %q, want %q (%v)", e.ID, id2[:12], err)
	}
}

// TestExecInTerminal runs `exec -it` inside a real pseudo-terminal: the
// process sees a terminal of the client's size, and typed input reaches it.
func TestExecInTerminal(t *testing.T) {
	requires(t)
	dir := project(t, "tty", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n", sleeper))
	gc(t, dir, "up", "-d")

	tm := newTerminal(t, 33, 101)
	cmd := tm.command(dir, "exec", "-it", "web", "sh", "-c", `[ -t 0 ] && echo is-a-tty; stty size; read x; echo "got:$x"; exit 7`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if tm.waitFor("33 101", 20*time.Second) {
		_, _ = tm.pty.Write([]byte("hello from the keyboard\r"))
	}
	if !tm.waitFor("got:hello from the keyboard", 20*time.Second) {
		_ = cmd.Process.Kill()
		t.Fatalf("exec -it: no answer in 20 s; the terminal shows %q", tm.shown())
	}
	err := cmd.Wait()
	if got := tm.shown(); !strings.Contains(got, "is-a-tty") || !strings.Contains(got, "33 101") {
		t.Errorf("exec -it output: %q", got)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("exec -it exit: %v, want 7", err)
	}
}

func TestRunPortsAliasesAndFlags(t *testing.T) {
	requires(t)
	envFile := filepath.Join(t.TempDir(), "run.env")
	if err := os.WriteFile(envFile, []byte("FROM_FILE=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := project(t, "runp", `
services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo ok > /tmp/i; httpd -f -p 8080 -h /tmp & wait"]
    ports: ["127.0.0.1:18942:8080"]
`)
	gc(t, dir, "up", "-d", "--wait")
	// The service publishes 18942; a run container does not, unless -P.
	r := gc(t, dir, "run", "--rm", "-T", "--env-from-file", envFile, "--cap-drop", "ALL", "web",
		"sh", "-c", `echo "file=$FROM_FILE"; grep CapEff /proc/self/status`)
	if !strings.Contains(r.stdout, "file=yes") || !strings.Contains(r.stdout, "CapEff:\t0000000000000000") {
		t.Errorf("run --env-from-file --cap-drop ALL:\n%s", r)
	}
	if r := gcRun(dir, nil, "run", "--rm", "-T", "-P", "web", "true"); r.code == 0 || !strings.Contains(r.stderr, "18942") {
		t.Errorf("run -P must publish the service's port, which the service holds:\n%s", r)
	}
	r = gc(t, dir, "run", "-d", "-p", "127.0.0.1:18943:8080", "web")
	if id := strings.TrimSpace(r.stdout); !hex64.MatchString(id) {
		t.Errorf("run -d should print the container ID, got %q", id)
	}
	var body string
	for i := 0; i < 50 && !strings.Contains(body, "ok"); i++ {
		time.Sleep(100 * time.Millisecond)
		body = httpGetQuiet("http://127.0.0.1:18943/i")
	}
	if !strings.Contains(body, "ok") {
		t.Errorf("run -p 18943:8080 does not serve: %q", body)
	}
	// Without --use-aliases a run container does not answer to the
	// service's name, with it it does.
	for _, tc := range []struct {
		flags []string
		want  int
	}{{nil, 1}, {[]string{"--use-aliases"}, 2}} {
		args := append([]string{"run", "--rm", "-T"}, tc.flags...)
		args = append(args, "web", "sh", "-c", "nslookup web | grep -c '^Address: 10\\.'")
		r := gcRun(dir, nil, args...)
		if got := strings.TrimSpace(r.stdout); got != fmt.Sprint(tc.want) {
			t.Errorf("run %v: web resolves to %s addresses, want %d\n%s", tc.flags, got, tc.want, r)
		}
	}
	if r := gcRun(dir, nil, "run", "-p", "1:1", "-P", "web"); r.code == 0 || !strings.Contains(r.stderr, "--service-ports and --publish are incompatible") {
		t.Errorf("run -p with -P: %s", r)
	}
}

// httpGetQuiet is httpGet for polling: a failure is an empty body.
func httpGetQuiet(url string) string {
	body, _ := fetchURL(url, time.Second)
	return body
}

// TestScriptedInvocations runs, as a Makefile or CI step would, the
// invocations people copy from Docker Compose's documentation.
func TestScriptedInvocations(t *testing.T) {
	requires(t)
	dir := project(t, "script", fmt.Sprintf(`
services:
  db:
    image: busybox
    command: %[1]s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  web:
    image: busybox
    command: %[1]s
    depends_on:
      db: {condition: service_healthy}
  job:
    image: busybox
    command: ["sh", "-c", "sleep 1; exit 3"]
    profiles: [jobs]
`, sleeper))
	script := fmt.Sprintf(`set -eu
gc() { %q "$@"; }
gc up -d --quiet-pull --wait
gc ps --services | sort | tr '\n' ' '; echo
gc exec -T web sh -c 'echo exec-ok'
echo piped | gc exec -T web cat
gc run --rm -T web echo run-ok
gc logs --index 1 db >/dev/null
gc stop -t 0
gc start --wait --wait-timeout 20
gc ps --format json | grep -c '"State":"running"'
gc --progress json restart -t 0 web 2>&1 >/dev/null | head -1
echo quiet-begin
gc --progress quiet restart -t 0 web 2>&1
echo quiet-end
echo "status-stdout=$(COMPOSE_STATUS_STDOUT=1 gc stop -t 0 web 2>/dev/null | grep -c 'Container script-web-1 Stopped')"
set +e
gc --profile jobs up -d job >/dev/null 2>&1
gc --profile jobs wait job; echo "wait-exit=$?"
gc up2 >/dev/null 2>&1; echo "unknown-exit=$?"
gc --progress bogus ps >/dev/null 2>&1; echo "bogus-progress-exit=$?"
gc --profile jobs up -d job >/dev/null 2>&1
gc --profile jobs wait --down-project job >/dev/null 2>&1; echo "down-project-exit=$?"
echo "left=$(gc ps -a -q | wc -l)"
`, bin)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = suiteEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for _, want := range []string{"db web ", "exec-ok", "piped", "run-ok", "2",
		`{"id":"Container script-web-1","status":"Working","text":"Restarting"}`,
		"wait-exit=3", "unknown-exit=1", "bogus-progress-exit=1", "status-stdout=1",
		"down-project-exit=3", "left=0"} {
		if !slices.Contains(lines, want) {
			t.Errorf("script output lacks the line %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^container "[0-9a-f]{64}" exited with status code 3$`).Match(out) {
		t.Errorf("wait should print Docker Compose's exit line:\n%s", out)
	}
	if i, j := slices.Index(lines, "quiet-begin"), slices.Index(lines, "quiet-end"); i < 0 || j != i+1 {
		t.Errorf("--progress quiet printed progress:\n%s", out)
	}
}

func TestUpAbortOnContainerFailureAndAttach(t *testing.T) {
	requires(t)
	dir := project(t, "cascade", fmt.Sprintf(`
services:
  ok:
    image: busybox
    command: ["sh", "-c", "echo ok-done"]
  fail:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo failing; exit 5"]
  long:
    image: busybox
    command: %s
`, sleeper))
	r := gcRun(dir, nil, "up", "--abort-on-container-failure", "-t", "0")
	if r.code != 5 || !strings.Contains(r.stdout, "Aborting on container exit...") {
		t.Errorf("up --abort-on-container-failure: want exit 5 after fail's exit:\n%s", r)
	}
	if got := states(ps(t, dir, "-a")); got["cascade-long-1"] != "exited" {
		t.Errorf("the project should be stopped: %v", got)
	}
	if r := gcRun(dir, nil, "up", "-d", "--abort-on-container-failure"); r.code == 0 || !strings.Contains(r.stderr, "--detach cannot be combined") {
		t.Errorf("up -d --abort-on-container-failure: %s", r)
	}
}

// start after stop waits, as up does, for a service_healthy dependency to
// be healthy in its new run before starting the dependent; a dependency
// that fails keeps its dependents stopped.
func TestStartWaitsForHealthyDependency(t *testing.T) {
	requires(t)
	dir := project(t, "startdep", `
services:
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; rm -f /shared/ready; [ -f /shared/fail ] && exit 3; sleep 2; touch /shared/ready; sleep 1000 & wait"]
    volumes: [shared:/shared]
    healthcheck:
      test: ["CMD", "test", "-f", "/shared/ready"]
      interval: 1s
      start_period: 10s
      start_interval: 200ms
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; if [ -f /shared/ready ]; then echo saw-ready; else echo too-early; fi; sleep 1000 & wait"]
    volumes: [shared:/shared]
    depends_on:
      db: {condition: service_healthy}
volumes:
  shared: {}
`)
	gc(t, dir, "up", "-d", "--wait")
	gc(t, dir, "stop", "-t", "0")
	gc(t, dir, "start")
	gc(t, dir, "restart", "-t", "0")
	logs := gc(t, dir, "logs", "--no-log-prefix", "web").stdout
	if strings.Count(logs, "saw-ready") != 3 || strings.Contains(logs, "too-early") {
		t.Errorf("web must start after db is healthy on up, start and restart; its logs:\n%s", logs)
	}

	// db now exits before it is healthy: start fails and web stays stopped.
	gc(t, dir, "stop", "-t", "0")
	gc(t, dir, "run", "--rm", "-T", "--no-deps", "db", "touch", "/shared/fail")
	r := gcRun(dir, nil, "start")
	if r.code == 0 || !strings.Contains(r.stderr, "service web not started") {
		t.Errorf("start with a failing dependency should fail:\n%s", r)
	}
	if got := states(ps(t, dir, "-a")); got["startdep-web-1"] == "running" {
		t.Errorf("web started although db failed: %v", got)
	}
}

// config --hash SERVICE prints the config-hash label of the container up
// made for it, as CI cache keys use it.
func TestConfigHashMatchesTheLabel(t *testing.T) {
	requires(t)
	dir := project(t, "cfghash", "services:\n  web:\n    image: busybox\n    command: [\"sleep\", \"300\"]\n    environment: {A: \"1\"}\n")
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	r := gc(t, dir, "ps", "--format", "json")
	var e struct{ Labels string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &e); err != nil {
		t.Fatalf("ps json: %v: %s", err, r.stdout)
	}
	var label string
	for _, kv := range strings.Split(e.Labels, ",") {
		if v, ok := strings.CutPrefix(kv, "com.docker.compose.config-hash="); ok {
			label = v
		}
	}
	if got := gc(t, dir, "config", "--hash", "web").stdout; label == "" || got != "web "+label+"\n" {
		t.Errorf("config --hash web = %q, label %q", got, label)
	}
	if got := gc(t, dir, "config", "--hash", "*").stdout; got != "web "+label+"\n" {
		t.Errorf("config --hash '*' = %q", got)
	}
}

// --dry-run prints what the command would do, prefixed as Docker Compose
// prints it, and leaves the host as it was: no container, network, volume,
// namespace or secret is made by a dry up, nothing is removed by a dry down.
func TestDryRun(t *testing.T) {
	requires(t)
	yaml := "services:\n  db:\n    image: busybox\n    command: " + idle + "\n    volumes: [data:/data]\n" +
		"    secrets: [pw]\n  web:\n    image: busybox\n    command: " + idle + "\n    depends_on: [db]\n" +
		"volumes:\n  data:\nsecrets:\n  pw:\n    environment: PW\n"
	dir := project(t, "dryrun", yaml)
	env := []string{"PW=hunter2"}
	r := gcRun(dir, env, "--dry-run", "up", "-d")
	if r.code != 0 {
		t.Fatalf("dry up: %s", r)
	}
	for _, line := range []string{" DRY-RUN MODE -  Network dryrun_default Created \n", " DRY-RUN MODE -  Volume dryrun_data Created \n",
		" DRY-RUN MODE -  Container dryrun-db-1 Started \n", " DRY-RUN MODE -  Container dryrun-web-1 Started \n"} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("dry up output lacks %q:\n%s", line, r.stderr)
		}
	}
	assertNothingLeft(t, "dryrun")
	if r := gc(t, "", "network", "ls", "-q"); strings.Contains(r.stdout, "dryrun_default") {
		t.Errorf("a dry up made the network: %s", r.stdout)
	}
	if r := gc(t, "", "volume", "ls", "-q"); strings.Contains(r.stdout, "dryrun_data") {
		t.Errorf("a dry up made the volume: %s", r.stdout)
	}
	if m, _ := filepath.Glob(filepath.Join(state, "netns", namespace, "dryrun-*")); len(m) > 0 {
		t.Errorf("a dry up made namespaces: %v", m)
	}
	if _, err := os.Stat(filepath.Join(state, "secrets", "dryrun")); err == nil {
		t.Error("a dry up wrote the secrets")
	}

	// A real up, then a dry down: everything stays and keeps running.
	gcRun(dir, env, "up", "-d")
	t.Cleanup(func() { gcRun(dir, env, "down", "-v", "-t", "0") })
	r = gcRun(dir, env, "--dry-run", "down", "-v")
	if r.code != 0 || !strings.Contains(r.stderr, " DRY-RUN MODE -  Container dryrun-web-1 Removed \n") {
		t.Fatalf("dry down: %s", r)
	}
	if st := states(ps(t, dir)); st["dryrun-db-1"] != "running" || st["dryrun-web-1"] != "running" {
		t.Errorf("after a dry down: %v", st)
	}
	if r := gc(t, "", "volume", "ls", "-q"); !strings.Contains(r.stdout, "dryrun_data") {
		t.Errorf("a dry down -v removed the volume: %s", r.stdout)
	}
	// What a dry run cannot simulate is refused by name.
	if r := gcRun(dir, env, "--dry-run", "exec", "-T", "web", "true"); r.code == 0 || !strings.Contains(r.stderr, "--dry-run is not supported for exec") {
		t.Errorf("dry exec: %s", r)
	}
}

// ps --format takes Go templates, as scripts pass them to docker compose.
func TestPsFormatTemplate(t *testing.T) {
	requires(t)
	dir := project(t, "psfmt", "services:\n  web:\n    image: busybox\n    command: "+idle+"\n")
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	if r := gc(t, dir, "ps", "--format", "{{.Name}} {{.State}}"); r.stdout != "psfmt-web-1 running\n" {
		t.Errorf("ps --format: %q", r.stdout)
	}
	if r := gc(t, dir, "ps", "--format", `table {{.Name}}\t{{.Service}}`); r.stdout != "NAME          SERVICE\npsfmt-web-1   web\n" {
		t.Errorf("ps --format table: %q", r.stdout)
	}
	if r := gcRun(dir, nil, "ps", "--format", "{{.Nope}}"); r.code == 0 || !strings.Contains(r.stderr, "Nope") {
		t.Errorf("ps with an unknown field: %s", r)
	}
}

// config -o writes the model to a file; --no-interpolate keeps variables.
func TestConfigOutputNoInterpolate(t *testing.T) {
	requires(t)
	dir := project(t, "cfgout", "services:\n  web:\n    image: busybox:${TAG:-1}\n")
	out := filepath.Join(t.TempDir(), "model.yaml")
	if r := gc(t, dir, "config", "--no-interpolate", "-o", out); r.stdout != "" {
		t.Errorf("config -o printed: %q", r.stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "busybox:${TAG:-1}") {
		t.Errorf("config -o --no-interpolate wrote %v:\n%s", err, b)
	}
}

// attach follows a running container's output from now on (stdout and
// stderr apart) and returns its exit code; Ctrl-C goes to the container.
func TestAttach(t *testing.T) {
	requires(t)
	dir := project(t, "attach", "services:\n  ticker:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'echo bye; exit 5' INT; i=0; while true; do echo tick $$i; echo err $$i >&2; i=$$((i+1)); sleep 0.2; done\"]\n")
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	time.Sleep(500 * time.Millisecond) // "tick 0" is well in the past
	cmd := gcCommand(dir, "attach", "ticker")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(os.Interrupt) // sent on to the container: its trap exits 5
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Errorf("attach exit: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "tick") || strings.Contains(stdout.String(), "err ") || !strings.Contains(stdout.String(), "bye") {
		t.Errorf("attach stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "err ") {
		t.Errorf("attach stderr:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String(), "tick 0\n") {
		t.Errorf("attach printed output from before it attached:\n%s", stdout.String())
	}
	if r := gcRun(dir, nil, "attach", "ticker"); r.code == 0 || !strings.Contains(r.stderr, "stopped container") {
		t.Errorf("attach to the exited container: %s", r)
	}
}
