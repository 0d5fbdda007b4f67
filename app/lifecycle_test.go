package app

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// upThreeTier brings threeTier up on a fresh fake and clears what up did.
func upThreeTier(t *testing.T) (*App, *fakeEngine, *strings.Builder) {
	t.Helper()
	e := newFakeEngine("busybox")
	a, _, errb := fakeApp(t, e)
	if err := a.Up(context.Background(), load(t, threeTier), UpOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	e.ops = nil
	errb.Reset()
	var progress strings.Builder
	a.Err = &syncWriter{w: &progress}
	return a, e, &progress
}

func TestDownStopsDependentsFirstAndRemovesAll(t *testing.T) {
	a, e, out := upThreeTier(t)
	p := load(t, threeTier)
	if err := a.Down(context.Background(), p, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(e.containers) != 0 {
		t.Errorf("left after down: %v", e.containers)
	}
	stopped := e.opsOf("stop")
	for _, dep := range []string{"p-web-1", "p-worker-1", "p-worker-2"} {
		if index(stopped, dep) > index(stopped, "p-db-1") {
			t.Errorf("%s stopped after its dependency db: %v", dep, stopped)
		}
	}
	for _, line := range []string{" Container p-web-1 Stopping", " Container p-web-1 Stopped", " Container p-web-1 Removing", " Container p-web-1 Removed", " Network p_default Removing", " Network p_default Removed"} {
		if !strings.Contains(out.String(), line+" \n") {
			t.Errorf("down output lacks %q:\n%s", line, out)
		}
	}
	// Twice is harmless.
	if err := a.Down(context.Background(), p, DownOptions{}); err != nil {
		t.Errorf("second down: %v", err)
	}
}

func TestDownOfOneServiceKeepsTheRest(t *testing.T) {
	a, e, out := upThreeTier(t)
	if err := a.Down(context.Background(), load(t, threeTier), DownOptions{Services: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.containers["p-web-1"]; ok {
		t.Error("web still there")
	}
	if _, ok := e.containers["p-db-1"]; !ok {
		t.Error("db removed by down web")
	}
	if !strings.Contains(out.String(), "Resource is still in use") {
		t.Errorf("the shared network was not reported in use:\n%s", out)
	}
}

func TestStopStartRestart(t *testing.T) {
	a, e, out := upThreeTier(t)
	p := load(t, threeTier)
	ctx := context.Background()
	if err := a.Stop(ctx, p, []string{"db"}, nil); err != nil {
		t.Fatal(err)
	}
	// Only the named service stops, as in Docker Compose.
	if e.containers["p-db-1"].state != runtime.StateExited || e.containers["p-web-1"].state != runtime.StateRunning {
		t.Errorf("after stop db: db %s, web %s", e.containers["p-db-1"].state, e.containers["p-web-1"].state)
	}
	if !strings.Contains(out.String(), " Container p-db-1 Stopped \n") {
		t.Errorf("stop output:\n%s", out)
	}
	if err := a.Stop(ctx, p, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p-web-1", "p-worker-1", "p-worker-2"} {
		if e.containers[id].state != runtime.StateExited {
			t.Errorf("%s is %s after stop", id, e.containers[id].state)
		}
	}
	e.ops = nil
	if err := a.Start(ctx, p, nil, nil); err != nil {
		t.Fatal(err)
	}
	started := e.opsOf("start")
	if len(started) != 4 || index(started, "p-db-1") != 0 {
		// db first: everything else depends on it.
		t.Errorf("start order %v", started)
	}
	e.ops = nil
	if err := a.Restart(ctx, p, []string{"web"}, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := e.opsOf("start"); !slices.Equal(got, []string{"p-web-1"}) {
		t.Errorf("restart web started %v", got)
	}
	if !strings.Contains(out.String(), " Container p-web-1 Restarting \n") {
		t.Errorf("restart output:\n%s", out)
	}
}

func TestPauseUnpauseKillRm(t *testing.T) {
	a, e, _ := upThreeTier(t)
	p := load(t, threeTier)
	ctx := context.Background()
	if err := a.Pause(ctx, p, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	if e.containers["p-web-1"].state != runtime.StatePaused {
		t.Error("web not paused")
	}
	if err := a.Unpause(ctx, p, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	if e.containers["p-web-1"].state != runtime.StateRunning {
		t.Error("web not unpaused")
	}
	if err := a.Kill(ctx, p, []string{"worker"}, "SIGKILL", false); err != nil {
		t.Fatal(err)
	}
	if c := e.containers["p-worker-2"]; c.state != runtime.StateExited || c.exitCode != 137 {
		t.Errorf("worker-2 after kill: %s %d", c.state, c.exitCode)
	}
	if err := a.Kill(ctx, p, []string{"worker"}, "SIGNOPE", false); err == nil {
		t.Error("an unknown signal was accepted")
	}
	// rm removes stopped containers only.
	if err := a.Rm(ctx, p, nil, RmOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.containers["p-worker-1"]; ok {
		t.Error("a killed worker was not removed")
	}
	if _, ok := e.containers["p-web-1"]; !ok {
		t.Error("rm removed a running container")
	}
}

func TestPsShowsComposeFields(t *testing.T) {
	a, e, _ := upThreeTier(t)
	p := load(t, threeTier)
	var out strings.Builder
	a.Out = &out
	e.exit("p-worker-2", 2)
	if err := a.Ps(context.Background(), p, PsOptions{Format: "json", All: true}); err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("ps json line %q: %v", line, err)
		}
		entries = append(entries, m)
	}
	if len(entries) != 4 {
		t.Fatalf("ps --all listed %d containers:\n%s", len(entries), out.String())
	}
	byName := map[string]map[string]any{}
	for _, m := range entries {
		byName[m["Name"].(string)] = m
	}
	web := byName["p-web-1"]
	if web["Service"] != "web" || web["Project"] != "p" || web["State"] != "running" || len(web["ID"].(string)) != 12 {
		t.Errorf("web entry: %v", web)
	}
	if w := byName["p-worker-2"]; w["State"] != "exited" || w["ExitCode"] != float64(2) {
		t.Errorf("exited worker entry: %v", w)
	}
	// Without --all the exited one is left out; --services lists names.
	out.Reset()
	if err := a.Ps(context.Background(), p, PsOptions{Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(out.String())); n != 3 {
		t.Errorf("ps -q listed %d running containers:\n%s", n, out.String())
	}
	out.Reset()
	if err := a.Ps(context.Background(), p, PsOptions{ListServices: true}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); !slices.Equal(got, []string{"db", "web", "worker"}) {
		t.Errorf("ps --services: %v", got)
	}
}

func TestExecAndRun(t *testing.T) {
	a, e, _ := upThreeTier(t)
	p := load(t, threeTier)
	ctx := context.Background()
	var out strings.Builder
	a.Out = &out
	if err := a.Exec(ctx, p, "web", []string{"echo", "hi"}, ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "echo hi\n" {
		t.Errorf("exec output %q", out.String())
	}
	e.execCode = 3
	if err := a.Exec(ctx, p, "web", []string{"false"}, ExecOptions{}); !isExit(err, 3) {
		t.Errorf("exec exit 3: %v", err)
	}
	// run makes a one-off container with Compose's labels and --rm removes it.
	e.exitOnStart["db"] = 0
	if err := a.Run(ctx, p, "db", []string{"true"}, RunOptions{Remove: true, NoDeps: true, Name: "p-db-run-x"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.containers["p-db-run-x"]; ok {
		t.Error("run --rm left its container")
	}
	e.exitOnStart["db"] = 5
	err := a.Run(ctx, p, "db", []string{"false"}, RunOptions{NoDeps: true, Name: "p-db-run-y"})
	if !isExit(err, 5) {
		t.Errorf("run exit 5: %v", err)
	}
	c := e.containers["p-db-run-y"]
	if c == nil || c.Labels[labels.OneOff] != "True" || c.Labels[labels.Service] != "db" {
		t.Fatalf("run container: %+v", c)
	}
	if !slices.Equal(c.Service.Command, []string{"false"}) {
		t.Errorf("run command %v", c.Service.Command)
	}
}

func isExit(err error, code int) bool {
	ee, ok := err.(*ExitError)
	return ok && ee.Code == code
}

func TestLogsPrefixesAndTails(t *testing.T) {
	a, e, _ := upThreeTier(t)
	now := time.Now()
	e.logs["p-web-1"] = []runtime.LogEntry{{Log: "one\n", Stream: "stdout", Time: now}, {Log: "two\n", Stream: "stdout", Time: now.Add(time.Millisecond)}}
	var out strings.Builder
	a.Out = &out
	if err := a.Logs(context.Background(), load(t, threeTier), LogsOptions{Services: []string{"web"}, Tail: 1, Format: LogFormat{NoColor: true}}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "web-1 | two\n" {
		t.Errorf("logs --tail 1 web: %q", got)
	}
}

func TestStopAllStopsDependentsFirst(t *testing.T) {
	a, e, _ := upThreeTier(t)
	if err := a.Stop(context.Background(), load(t, threeTier), nil, nil); err != nil {
		t.Fatal(err)
	}
	stopped := e.opsOf("stop")
	if len(stopped) != 4 || stopped[len(stopped)-1] != "p-db-1" {
		t.Errorf("stop order %v: db, which the others depend on, must stop last", stopped)
	}
}

// ps and ls take Go templates as docker's --format does.
func TestFormatTemplates(t *testing.T) {
	a, _, _ := upThreeTier(t)
	var out strings.Builder
	a.Out = &out
	p := load(t, threeTier)
	ctx := context.Background()
	if err := a.Ps(ctx, p, PsOptions{Format: "{{.Name}}"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "p-db-1\np-web-1\np-worker-1\np-worker-2\n" {
		t.Errorf("ps --format '{{.Name}}':\n%s", out.String())
	}
	out.Reset()
	if err := a.Ps(ctx, p, PsOptions{Format: `table {{.Service}}\t{{.State}}`, Services: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "SERVICE   STATE\nweb       running\n" {
		t.Errorf("ps --format 'table …':\n%q", out.String())
	}
	out.Reset()
	if err := a.Ps(ctx, p, PsOptions{Format: `{{json .Name}} {{.Name | upper}}`, Services: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "\"p-db-1\" P-DB-1\n" {
		t.Errorf("ps with template functions: %q", out.String())
	}
	for _, bad := range []string{"{{.Nope}}", "{{.Name", "bogus"} {
		if err := a.Ps(ctx, p, PsOptions{Format: bad}); err == nil {
			t.Errorf("ps --format %q accepted", bad)
		}
	}
	out.Reset()
	if err := a.Ls(ctx, false, false, "{{.Name}}: {{.Status}}"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "p: running(4)\n" {
		t.Errorf("ls --format: %q", out.String())
	}
	if err := a.Ls(ctx, false, false, "bogus"); err == nil {
		t.Error("ls --format bogus accepted")
	}
	for filter, want := range map[string]string{"p": "p\n", "^p$": "p\n", "other": "", "q|p": "p\n"} {
		out.Reset()
		if err := a.Ls(ctx, false, true, "", filter); err != nil || out.String() != want {
			t.Errorf("ls --filter name=%s: %q %v", filter, out.String(), err)
		}
	}
}

func TestConfigListings(t *testing.T) {
	a := &App{}
	var out strings.Builder
	a.Out = &out
	p := load(t, `
services:
  web:
    image: busybox
    networks: [front, back]
  debug:
    image: busybox
    profiles: [tools, dev]
networks:
  front:
  back:
`)
	p.Environment = map[string]string{"B": "2", "A": "1"}
	for _, tc := range []struct {
		o    ConfigOptions
		want string
	}{
		{ConfigOptions{Networks: true}, "back\ndefault\nfront\n"}, // compose-go adds default
		{ConfigOptions{Profiles: true}, "dev\ntools\n"},
		{ConfigOptions{Environment: true}, "A=1\nB=2\n"},
		{ConfigOptions{Services: true}, "web\n"},
	} {
		out.Reset()
		if err := a.Config(p, tc.o); err != nil || out.String() != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.o, out.String(), err, tc.want)
		}
	}
}

// attach follows a running container's output from now until it exits,
// and its exit code is the command's; an interrupt goes to the container.
func TestAttach(t *testing.T) {
	a, e, _ := upThreeTier(t)
	var out, errb strings.Builder
	a.Out, a.Err = &syncWriter{w: &out}, &syncWriter{w: &errb}
	p := load(t, threeTier)
	go func() {
		time.Sleep(30 * time.Millisecond)
		e.exit("p-worker-2", 3)
	}()
	if err := a.Attach(context.Background(), p, "worker", AttachOptions{Index: 2, SigProxy: true}); !isExit(err, 3) {
		t.Fatalf("attach: %v", err)
	}
	// Interrupted with --sig-proxy: the container gets SIGINT (the fake
	// exits 130 on it) and attach returns its code.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	if err := a.Attach(ctx, p, "web", AttachOptions{SigProxy: true}); !isExit(err, 130) || !slices.Contains(e.opsOf("kill"), "p-web-1") {
		t.Errorf("attach interrupted: %v, kills %v", err, e.opsOf("kill"))
	}
	// Without: gocompose leaves, the container runs on.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := a.Attach(ctx, p, "db", AttachOptions{}); err != nil || e.containers["p-db-1"].state != runtime.StateRunning {
		t.Errorf("attach --sig-proxy=false interrupted: %v, db %s", err, e.containers["p-db-1"].state)
	}
	if err := a.Attach(context.Background(), p, "worker", AttachOptions{Index: 2}); err == nil || !strings.Contains(err.Error(), "stopped container") {
		t.Errorf("attach to an exited container: %v", err)
	}
}
