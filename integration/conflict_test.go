package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// nothingMade checks that a refused `up` made no container, netns or
// network record of proj.
func nothingMade(t *testing.T, dir, proj string) {
	t.Helper()
	if es := ps(t, dir, "-a"); len(es) != 0 {
		t.Errorf("%s: containers were made: %+v", proj, es)
	}
	assertNothingLeft(t, proj)
	if m, _ := filepath.Glob(filepath.Join(state, "netns", namespace, proj+"-*")); len(m) > 0 {
		t.Errorf("%s: network namespaces were made: %v", proj, m)
	}
	if out := gc(t, dir, "network", "ls").stdout; strings.Contains(out, proj+"_") {
		t.Errorf("%s: a network was made:\n%s", proj, out)
	}
}

func TestHostConflictsAcrossProjectsAreRefused(t *testing.T) {
	requires(t)
	first := project(t, "cfa", fmt.Sprintf(`
services:
  web:
    image: busybox
    container_name: cf-shared
    command: %s
    ports: ["127.0.0.1:18961:8080"]
    networks: [fixed]
networks:
  fixed:
    ipam:
      config: [{subnet: 10.124.7.0/24}]
`, sleeper))
	gc(t, first, "up", "-d")

	for _, tc := range []struct{ name, yaml, want string }{
		{"cfport", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n    ports: [\"18961:8080\"]\n", sleeper),
			"port 18961/tcp is already in use"},
		{"cfnet", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n    networks: [n]\nnetworks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.124.7.128/25\n", sleeper),
			"compose.yaml:10: networks.n.ipam.config.0.subnet: network cfnet_n: ipam subnet 10.124.7.128/25 overlaps 10.124.7.0/24"},
		{"cfname", fmt.Sprintf("services:\n  web:\n    image: busybox\n    container_name: cf-shared\n    command: %s\n", sleeper),
			`container name "cf-shared" is already in use by a container of project "cfa" (service "web")`},
	} {
		dir := project(t, tc.name, tc.yaml)
		r := gcRun(dir, nil, "up", "-d")
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: up should fail with %q:\n%s", tc.name, tc.want, r)
		}
		if tc.name != "cfname" {
			nothingMade(t, dir, tc.name)
		} else if es := ps(t, dir, "-a"); len(es) != 0 {
			t.Errorf("cfname: containers were made: %+v", es)
		}
	}
	if got := states(ps(t, first)); got["cf-shared"] != "running" {
		t.Errorf("the first project must be untouched: %v", got)
	}
}

// Two projects racing for one host port: exactly one gets it.
func TestRacingUpsForOnePort(t *testing.T) {
	requires(t)
	var dirs []string
	for _, name := range []string{"racea", "raceb", "racec"} {
		dirs = append(dirs, project(t, name, fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n    ports: [\"127.0.0.1:18962:8080\"]\n", sleeper)))
	}
	results := make([]result, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = gcRun(dir, nil, "up", "-d") }()
	}
	wg.Wait()
	won := 0
	for i, r := range results {
		switch {
		case r.code == 0:
			won++
		case !strings.Contains(r.stderr, "18962"):
			t.Errorf("%s failed for another reason:\n%s", dirs[i], r)
		}
	}
	if won != 1 {
		t.Errorf("%d of 3 racing projects published 127.0.0.1:18962, want exactly 1", won)
	}
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "--dport 18962 -j DNAT"); n != 1 {
		t.Errorf("%d DNAT rules for 18962, want 1:\n%s", n, out)
	}
}
