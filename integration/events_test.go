package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
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
		if e.ID != "events-one-1" || e.Service != "one" {
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
}
