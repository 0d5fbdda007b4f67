package network

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// portmap runs Debian's CNI portmap plugin directly for a container that
// exists only as a name and an address: it makes (or removes) the host's
// DNAT rules and sends no traffic.
func portmap(t *testing.T, cmd, id, ip string, port int) {
	t.Helper()
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"gc-porttest","type":"portmap","snat":true,
"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]},
"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"%s/24","interface":0}]}}`, port, ip)
	c := exec.Command("/usr/lib/cni/portmap")
	c.Stdin = bytes.NewBufferString(conf)
	c.Env = append(os.Environ(), "CNI_COMMAND="+cmd, "CNI_CONTAINERID="+id, "CNI_NETNS=/proc/self/ns/net",
		"CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("portmap %s %s: %v: %s", cmd, id, err, out)
	}
}

// owner is the container whose jump for port comes first.
func owner(t *testing.T, port int) string {
	t.Helper()
	js, err := hostportJumps()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		for _, p := range j.ports {
			if p == fmt.Sprint(port) {
				return j.container
			}
		}
	}
	return ""
}

func TestServePorts(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for iptables")
	}
	if _, err := os.Stat("/usr/lib/cni/portmap"); err != nil {
		skipOrFail(t, "needs the CNI portmap plugin: "+err.Error())
	}
	const port = 39917
	old, nu := "gc-porttest-old", "gc-porttest-new"
	portmap(t, "ADD", old, "192.0.2.2", port)
	t.Cleanup(func() { portmap(t, "DEL", old, "192.0.2.2", port) })
	portmap(t, "ADD", nu, "192.0.2.3", port)
	t.Cleanup(func() { portmap(t, "DEL", nu, "192.0.2.3", port) })

	// Whichever order the plugin put them in, the served one wins.
	if err := ServePorts(old); err != nil {
		t.Fatal(err)
	}
	if got := owner(t, port); got != old {
		t.Fatalf("port %d goes to %q, want %q", port, got, old)
	}
	// Serving what already serves changes no rule.
	before, _ := hostportJumps()
	if err := ServePorts(old); err != nil {
		t.Fatal(err)
	}
	if after, _ := hostportJumps(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("rules changed by a no-op:\n%v\n%v", before, after)
	}
	for _, tc := range []struct {
		except []string
		want   bool
	}{{nil, true}, {[]string{old}, true}, {[]string{old, nu}, false}} {
		if got, err := HostPortTaken(port, "tcp", tc.except...); err != nil || got != tc.want {
			t.Errorf("HostPortTaken(except %v) = %v, %v; want %v", tc.except, got, err, tc.want)
		}
	}
	for _, serve := range []string{nu, old, nu} { // marked and unmarked copies alike
		if err := ServePorts(serve); err != nil {
			t.Fatal(err)
		}
		if got := owner(t, port); got != serve {
			t.Fatalf("after ServePorts(%s) port %d goes to %q", serve, port, got)
		}
	}
	js, _ := hostportJumps()
	n := 0
	for _, j := range js {
		if j.container == old || j.container == nu {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d jumps for the two containers, want 2 (a copy was left behind): %+v", n, js)
	}
	// portmap's own teardown removes the moved (marked) jump too.
	portmap(t, "DEL", nu, "192.0.2.3", port)
	if got := owner(t, port); got != old {
		t.Errorf("after the new container's DEL port %d goes to %q, want %q", port, got, old)
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
