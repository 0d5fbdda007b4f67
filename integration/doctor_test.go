package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// On the suite's host (real containerd, runc, CNI plugins, buildkitd) every
// check of doctor passes, in both formats, and the exit code is 0.
func TestDoctorOnThisHost(t *testing.T) {
	requires(t)
	r := gc(t, t.TempDir(), "doctor", "--format", "json")
	var rs []struct{ Check, Status, Detail, Fix string }
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil {
		t.Fatalf("doctor --format json: %v\n%s", err, r.stdout)
	}
	if len(rs) < 13 {
		t.Errorf("%d checks", len(rs))
	}
	for _, c := range rs {
		if c.Status != "pass" {
			t.Errorf("%s: %s %s (fix: %s)", c.Check, c.Status, c.Detail, c.Fix)
		}
	}
	table := gc(t, t.TempDir(), "doctor").stdout
	if !strings.HasPrefix(table, "CHECK") || !strings.Contains(table, "containerd") || strings.Contains(table, "fail") {
		t.Errorf("doctor table:\n%s", table)
	}
	if r := gcRun(t.TempDir(), nil, "doctor", "--format", "yaml"); r.code == 0 {
		t.Errorf("doctor --format yaml was accepted: %s", r)
	}
}
