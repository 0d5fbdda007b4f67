package integration

import (
	"fmt"
	"strings"
	"testing"
)

// external_links reach a container of another project over a network both
// are on, by its name and the alias; one that is not there fails up.
func TestExternalLinks(t *testing.T) {
	requires(t)
	other := project(t, "extlother", fmt.Sprintf("services:\n  cache:\n    image: busybox\n    command: %s\nnetworks:\n  default:\n    name: extl_shared\n", httpd))
	gc(t, other, "up", "-d")
	dir := project(t, "extl", fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %s
    external_links: ["extlother-cache-1:redis"]
    networks: [shared]
networks:
  shared:
    external: true
    name: extl_shared
`, idle))
	gc(t, dir, "up", "-d")
	if r := fetch(dir, "web", "http://redis:8080/"); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Errorf("web reaching the linked container as redis: %s", r)
	}
	if hosts := gc(t, dir, "exec", "-T", "web", "cat", "/etc/hosts").stdout; !strings.Contains(hosts, "extlother-cache-1") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
	gc(t, dir, "down")
	bad := project(t, "extlbad", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n    external_links: [nosuch-container]\n", idle))
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "nosuch-container") {
		t.Errorf("a link to a missing container: %s", r)
	}
	if ps := gc(t, bad, "ps", "-a", "-q").stdout; strings.TrimSpace(ps) != "" {
		t.Errorf("a failed create left containers: %q", ps)
	}
}
