package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// enable_ipv6 makes a dual-stack network as Docker does: each container
// gets an IPv6 address (ipv6_address, or one of the ipam subnet, or of a
// unique local /64 gocompose picks), a default IPv6 route when the network
// is not internal, AAAA answers for the names, IPv6 traffic between
// containers, masquerading out, inspect showing it; down leaves no rule,
// link or lease behind.
func TestIPv6DualStack(t *testing.T) {
	requires(t)
	if _, err := exec.LookPath("ip6tables-save"); err != nil {
		t.Fatal("ip6tables is missing")
	}
	before := hostNetState(t)
	dir := project(t, "dual", fmt.Sprintf(`services:
  web:
    image: busybox
    command: %[1]s
    ports: ["127.0.0.1:18087:8080"]
    networks:
      dual:
        ipv6_address: fd00:77::10
  client:
    image: busybox
    command: %[2]s
    networks: [dual, auto]
networks:
  dual:
    enable_ipv6: true
    ipam:
      config:
        - subnet: 10.123.77.0/24
        - subnet: fd00:77::/64
  auto:
    enable_ipv6: true
`, httpd, idle))
	gc(t, dir, "up", "-d")
	if out := gc(t, dir, "exec", "-T", "web", "ip", "-6", "-o", "addr").stdout; !strings.Contains(out, "inet6 fd00:77::10/64 scope global") {
		t.Errorf("web's IPv6 addresses:\n%s", out)
	}
	// auto connects first (by name): eth0, with the default routes.
	out := gc(t, dir, "exec", "-T", "client", "ip", "-6", "-o", "addr").stdout
	if !regexp.MustCompile(`eth1 +inet6 fd00:77::[0-9a-f]+/64 scope global`).MatchString(out) || !regexp.MustCompile(`eth0 +inet6 fd67:6f63:6f6d:[0-9a-f:]*/64 scope global`).MatchString(out) {
		t.Errorf("client's IPv6 addresses (a unique local /64 on eth0, dual's subnet on eth1):\n%s", out)
	}
	if out := gc(t, dir, "exec", "-T", "client", "ip", "-6", "route").stdout; !regexp.MustCompile(`default via fd67:6f63:6f6d:[0-9a-f:]*:1 dev eth0`).MatchString(out) || !strings.Contains(out, "fd00:77::/64 dev eth1") {
		t.Errorf("client's IPv6 routes:\n%s", out)
	}
	// AAAA for the name, and IPv6 traffic to it.
	if r := gc(t, dir, "exec", "-T", "client", "nslookup", "-type=AAAA", "web"); !strings.Contains(r.stdout, "fd00:77::10") {
		t.Errorf("AAAA of web: %s", r)
	}
	if r := gc(t, dir, "exec", "-T", "client", "nslookup", "-type=A", "web"); !strings.Contains(r.stdout, "10.123.77.") || strings.Contains(r.stdout, "fd00:77::10") {
		t.Errorf("A of web: %s", r)
	}
	if r := fetch(dir, "client", "http://[fd00:77::10]:8080/"); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Errorf("client -> web over IPv6: %s", r)
	}
	// A published port still answers on the host (portmap with both
	// families' addresses).
	if body, err := fetchURL("http://127.0.0.1:18087/", 5*time.Second); err != nil || strings.TrimSpace(body) == "" {
		t.Errorf("web's published port: %q %v", body, err)
	}
	if out, _ := exec.Command("ip6tables-save", "-t", "nat").Output(); !strings.Contains(string(out), "-s fd00:77::/64 ! -d ff00::/8") {
		t.Errorf("no IPv6 masquerade rule for dual:\n%s", out)
	}
	var nets []struct {
		EnableIPv6 bool
		IPAM       struct {
			Config []struct{ Subnet, Gateway string }
		}
		Containers map[string]struct{ Name, IPv6Address string }
	}
	if err := json.Unmarshal([]byte(gc(t, dir, "network", "inspect", "dual_dual").stdout), &nets); err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || !nets[0].EnableIPv6 || len(nets[0].IPAM.Config) != 2 || nets[0].IPAM.Config[1].Subnet != "fd00:77::/64" || nets[0].IPAM.Config[1].Gateway != "fd00:77::1" {
		t.Errorf("network inspect: %+v", nets)
	}
	found := false
	for _, c := range nets[0].Containers {
		found = found || (c.Name == "dual-web-1" && c.IPv6Address == "fd00:77::10/64")
	}
	if !found {
		t.Errorf("network inspect's containers: %+v", nets[0].Containers)
	}
	gc(t, dir, "down", "-t", "0")
	after := hostNetState(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after down, the host's %s changed:\nbefore %s\nafter  %s", k, v, after[k])
		}
	}
	assertNothingLeft(t, "dual")
}
