package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestEventsJSON(t *testing.T) {
	requires(t)
	dir := project(t, "events", "services:\n  one:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 0.2; exit 3\"]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "events", "--json")
	cmd.Dir = dir
	cmd.Env = suiteEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	time.Sleep(300 * time.Millisecond) // let it subscribe
	gc(t, dir, "up", "-d")
	seen := map[string]bool{}
	sc := bufio.NewScanner(out)
	for !(seen["start"] && seen["die"]) && sc.Scan() {
		var e struct {
			Action, ID, Service string
			Attributes          map[string]string
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		if !hex64.MatchString(e.ID) || e.Attributes["name"] != "events-one-1" || e.Service != "one" {
			t.Errorf("event for another container: %s", sc.Text())
		}
		seen[e.Action] = true
		if e.Action == "die" && e.Attributes["exitCode"] != "3" {
			t.Errorf("die event: %s", sc.Text())
		}
	}
	if !seen["start"] || !seen["die"] {
		t.Errorf("events seen: %v", seen)
	}
	// --until ends the stream by itself; a --since in the past cannot be
	// honoured without an event history, and says so.
	start := time.Now()
	if r := gcRun(dir, nil, "events", "--until", time.Now().Add(time.Second).Format(time.RFC3339Nano)); r.code != 0 || time.Since(start) > 10*time.Second {
		t.Errorf("events --until: %s (after %v)", r, time.Since(start))
	}
	if r := gcRun(dir, nil, "events", "--since", "1h"); r.code == 0 || !strings.Contains(r.stderr, "no event history") {
		t.Errorf("events --since 1h: %s", r)
	}
}
