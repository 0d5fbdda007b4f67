package integration

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// stats --no-stream shows a busy container's CPU near a whole core, an
// idle one's near nothing, the memory limit and the process count.
func TestStats(t *testing.T) {
	requires(t)
	dir := project(t, "stats", `services:
  busy:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
  idle:
    image: busybox
    command: `+idle+`
    mem_limit: 64m
`)
	gc(t, dir, "up", "-d")
	r := gc(t, dir, "stats", "--no-stream", "--format", "json")
	rows := map[string]map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var row map[string]string
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("stats json line %q: %v", l, err)
		}
		rows[row["Name"]] = row
	}
	cpu := func(name string) float64 {
		v, err := strconv.ParseFloat(strings.TrimSuffix(rows[name]["CPUPerc"], "%"), 64)
		if err != nil {
			t.Fatalf("%s CPUPerc %q", name, rows[name]["CPUPerc"])
		}
		return v
	}
	if busy, idle := cpu("stats-busy-1"), cpu("stats-idle-1"); busy < 20 || idle > 5 {
		t.Errorf("CPU %%: busy %.2f, idle %.2f\n%s", busy, idle, r.stdout)
	}
	if mem := rows["stats-idle-1"]["MemUsage"]; !strings.HasSuffix(mem, " / 64MiB") {
		t.Errorf("idle MemUsage %q, want the 64MiB limit", mem)
	}
	if id := rows["stats-idle-1"]["ID"]; len(id) != 12 || !hex64.MatchString(strings.Repeat(id, 6)[:64]) {
		t.Errorf("stats ID %q, want the container's ID cut to 12 hex digits", id)
	}
	if pids := rows["stats-idle-1"]["PIDs"]; pids != "2" {
		t.Errorf("idle PIDs %q, want 2 (sh and sleep)", pids)
	}
	table := gc(t, dir, "stats", "--no-stream").stdout
	if !strings.HasPrefix(table, "CONTAINER ID") || !strings.Contains(table, "MEM USAGE / LIMIT") || strings.Count(table, "\n") != 3 {
		t.Errorf("stats table:\n%s", table)
	}
}
