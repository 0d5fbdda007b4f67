package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/network"
	"github.com/mattn/go-shellwords"
	mdns "github.com/miekg/dns"
)

const httpd = `["sh", "-c", "trap 'exit 0' TERM; hostname > /var/www/index.html; httpd -f -p 8080 -h /var/www & wait"]`
const idle = `["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]`

// fetch runs wget inside a service container (busybox's wget -T crashes,
// so timeout bounds it).
func fetch(dir, svc, url string) result {
	return gcRun(dir, nil, "exec", "-T", svc, "timeout", "3", "wget", "-qO-", url)
}

// ruleLines are the rules and user chains of iptables-save output, but
// for portmap's shared chains and their jumps, which the plugin makes on
// its first use and leaves for good (in iptables too, from the suite's
// first published port on); a container's rules in them still count.
func ruleLines(b []byte) string {
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		switch f := strings.Fields(l); {
		case strings.Contains(l, "CNI-HOSTPORT-MASQ") || strings.Contains(l, "CNI-HOSTPORT-SETMARK") ||
			strings.HasPrefix(l, ":CNI-HOSTPORT-DNAT ") || strings.HasSuffix(l, "--dst-type LOCAL -j CNI-HOSTPORT-DNAT"):
		case strings.HasPrefix(l, "-"):
			keep = append(keep, l)
		case strings.HasPrefix(l, ":") && len(f) > 1 && f[1] == "-":
			keep = append(keep, f[0]) // a user chain, without its counters
		}
	}
	return strings.Join(keep, "\n")
}

// hostNetState is what a project may leave on the host: links, iptables
// rules and files, as text for before/after comparison.
func hostNetState(t *testing.T) map[string]string {
	t.Helper()
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	rules, _ := exec.Command("iptables-save").Output()
	nat, _ := exec.Command("iptables-save", "-t", "nat").Output()
	rules6, _ := exec.Command("ip6tables-save").Output()
	var names []string
	for _, d := range []string{filepath.Join(state, "netns", namespace), filepath.Join(root, "cni", "ipam"), filepath.Join(root, "networks")} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			names = append(names, filepath.Join(d, e.Name()))
		}
	}
	norm := func(b []byte) string {
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, ":") {
				continue // comments and packet counters change
			}
			keep = append(keep, l)
		}
		return strings.Join(keep, "\n")
	}
	var linkNames []string
	for _, l := range strings.Split(string(links), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			linkNames = append(linkNames, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	return map[string]string{
		// A table ip6tables-restore loaded stays registered, empty: only
		// its rules count.
		"links": strings.Join(linkNames, " "), "filter": norm(rules), "nat": norm(nat), "ip6tables": ruleLines(rules6), "files": strings.Join(names, " "),
	}
}

func TestServiceNamesAliasesPortsAndCleanup(t *testing.T) {
	requires(t)
	before := hostNetState(t)
	dir := project(t, "netdns", fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %s
    ports: ["127.0.0.1:18931:8080", "8080"]
    networks:
      default:
        aliases: [www, frontdoor]
  api:
    image: busybox
    command: %s
    scale: 3
  client:
    image: busybox
    command: %s
    depends_on: [web, api]
`, httpd, httpd, idle))
	r := gc(t, dir, "up", "-d")
	if !strings.Contains(r.stderr, "Network netdns_default Created") {
		t.Errorf("up output:\n%s", r.stderr)
	}
	for _, name := range []string{"web", "www", "frontdoor", "netdns-web-1"} {
		if r := fetch(dir, "client", "http://"+name+":8080/"); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
			t.Errorf("client fetching %s: %s", name, r)
		}
	}
	// Replicas: the service name resolves to three distinct addresses.
	out := gc(t, dir, "exec", "-T", "client", "nslookup", "api").stdout
	if n := strings.Count(out, "Address: 10."); n != 3 {
		t.Errorf("api should resolve to 3 addresses, got %d:\n%s", n, out)
	}
	// Unknown names in the project are NXDOMAIN, not forwarded.
	if r := gcRun(dir, nil, "exec", "-T", "client", "nslookup", "nosuchservice"); r.code == 0 {
		t.Errorf("unknown name resolved: %s", r)
	}
	// PTR for a peer's address.
	ip := strings.TrimSpace(gc(t, dir, "exec", "-T", "web", "hostname", "-i").stdout)
	if out := gc(t, dir, "exec", "-T", "client", "nslookup", ip).stdout; !strings.Contains(out, "netdns-web-1") {
		t.Errorf("PTR of %s:\n%s", ip, out)
	}

	// Published ports, on the host's loopback, fixed and ephemeral.
	body := httpGet(t, "http://127.0.0.1:18931/")
	if body == "" {
		t.Error("published port 18931 served nothing")
	}
	if got := strings.TrimSpace(gc(t, dir, "port", "web", "8080").stdout); got != "127.0.0.1:18931" {
		t.Errorf("port web 8080 = %q", got)
	}
	table := gc(t, dir, "ps").stdout
	if !strings.Contains(table, "127.0.0.1:18931->8080/tcp") {
		t.Errorf("ps PORTS column:\n%s", table)
	}
	var ephemeral string
	for _, l := range strings.Split(table, "\n") {
		if i := strings.Index(l, "0.0.0.0:"); i >= 0 {
			ephemeral = strings.SplitN(l[i+len("0.0.0.0:"):], "->", 2)[0]
		}
	}
	if ephemeral == "" || httpGet(t, "http://127.0.0.1:"+ephemeral+"/") == "" {
		t.Errorf("ephemeral port %q not reachable:\n%s", ephemeral, table)
	}

	// A port already in use is a clear error naming it, and nothing is made.
	busy := project(t, "netbusy", fmt.Sprintf("services:\n  b:\n    image: busybox\n    command: %s\n    ports: [\"127.0.0.1:18931:8080\"]\n", idle))
	if r := gcRun(busy, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "18931") || !strings.Contains(r.stderr, "in use") {
		t.Errorf("busy port: %s", r)
	}
	assertNothingLeft(t, "netbusy")

	gc(t, dir, "down", "-v")
	gc(t, busy, "down", "-v")
	assertNothingLeft(t, "netdns")
	after := hostNetState(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("host %s changed after down:\nbefore: %s\nafter:  %s", k, v, after[k])
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	body, err := fetchURL(url, 3*time.Second)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
	}
	return body
}

// fetchURL GETs url from the host and returns the body.
func fetchURL(url string, timeout time.Duration) (string, error) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestNetworkIsolationAndInternal(t *testing.T) {
	requires(t)
	dir := project(t, "netiso", fmt.Sprintf(`
services:
  a:
    image: busybox
    command: %[1]s
    networks: [front]
  b:
    image: busybox
    command: %[1]s
    networks: [back]
  both:
    image: busybox
    command: %[1]s
    networks:
      front:
        gw_priority: 5
      back:
        interface_name: backside
  secret:
    image: busybox
    command: %[1]s
    networks: [private]
  peer:
    image: busybox
    command: %[1]s
    networks: [private]
networks:
  front:
  back:
    ipam:
      config:
        - subnet: 10.123.45.0/24
  private:
    internal: true
`, httpd))
	gc(t, dir, "up", "-d")
	for _, target := range []string{"a", "b"} {
		if r := fetch(dir, "both", "http://"+target+":8080/"); r.code != 0 {
			t.Errorf("both -> %s: %s", target, r)
		}
	}
	// a cannot see b's name, nor reach its address.
	if r := gcRun(dir, nil, "exec", "-T", "a", "nslookup", "b"); r.code == 0 {
		t.Errorf("a resolved b across networks: %s", r)
	}
	bIP := strings.TrimSpace(gc(t, dir, "exec", "-T", "b", "hostname", "-i").stdout)
	if !strings.HasPrefix(bIP, "10.123.45.") {
		t.Errorf("b's address %q is not in the configured subnet", bIP)
	}
	if r := fetch(dir, "a", "http://"+bIP+":8080/"); r.code == 0 {
		t.Errorf("a reached b at %s across networks: %s", bIP, r)
	}
	// back connects first (by name) as interface_name backside, front
	// then as eth0; front's gw_priority makes it the default route.
	if out := gc(t, dir, "exec", "-T", "both", "ip", "-o", "addr").stdout; !regexp.MustCompile(`backside +inet 10\.123\.45\.`).MatchString(out) || !strings.Contains(out, "eth0 ") {
		t.Errorf("both's interfaces (interface_name backside on back, eth0 on front):\n%s", out)
	}
	if out := gc(t, dir, "exec", "-T", "both", "ip", "route").stdout; !regexp.MustCompile(`(?m)^default via \S+ dev eth0`).MatchString(out) || strings.Contains(out, "default via 10.123.45.") {
		t.Errorf("both's default route is not front's (gw_priority 5):\n%s", out)
	}
	// internal: no default route, but peers on the network are reachable.
	if out := gc(t, dir, "exec", "-T", "secret", "ip", "route").stdout; strings.Contains(out, "default") {
		t.Errorf("internal network has a default route:\n%s", out)
	}
	if out := gc(t, dir, "exec", "-T", "a", "ip", "route").stdout; !strings.Contains(out, "default") {
		t.Errorf("normal network lacks a default route:\n%s", out)
	}
	if r := fetch(dir, "secret", "http://peer:8080/"); r.code != 0 {
		t.Errorf("secret -> peer on internal network: %s", r)
	}
	gc(t, dir, "down")
	assertNothingLeft(t, "netiso")
}

// Ten services on one network each resolve every other by name.
func TestTenServicesResolveEachOther(t *testing.T) {
	requires(t)
	var b strings.Builder
	b.WriteString("services:\n")
	var names []string
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: busybox\n    command: %s\n", i, idle)
		names = append(names, fmt.Sprintf("s%d", i))
	}
	dir := project(t, "netten", b.String())
	gc(t, dir, "up", "-d")
	script := "for n in " + strings.Join(names, " ") + "; do nslookup $n >/dev/null || echo FAIL $n; done"
	for _, n := range names {
		if out := gc(t, dir, "exec", "-T", n, "sh", "-c", script).stdout; out != "" {
			t.Errorf("%s: %s", n, out)
		}
	}
	gc(t, dir, "down")
}

// readPid reads a pid file of the suite's state directory.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file %s holds %q", path, b)
	}
	return pid
}

// tailFile is the last n lines of a file, for failure messages.
func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// killAndWait SIGKILLs pid and waits until it is gone.
func killAndWait(t *testing.T, pid int) {
	t.Helper()
	if !daemon.Runs(pid, "gocompose") {
		t.Fatalf("refusing to kill pid %d: not a gocompose process", pid) // a stale pid file's pid may be anyone's
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// within polls cond every 50 ms until it holds or d has passed.
func within(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// Killing the supervisor touches no container; its watchdog brings it back
// within 2 s without any command, with records rebuilt from labels. While
// it is away (watchdog killed too), a restart: always container that exits
// and a healthcheck that flips are caught up within 2 s of its return.
func TestSupervisorRestartsAndCatchesUp(t *testing.T) {
	requires(t)
	flag := t.TempDir()
	if err := os.WriteFile(filepath.Join(flag, "ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := project(t, "netsup", fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %s
    restart: always
    volumes: ["%s:/flag"]
    healthcheck:
      test: ["CMD", "test", "-f", "/flag/ok"]
      interval: 300ms
      retries: 1
  client:
    image: busybox
    command: %s
`, httpd, flag, idle))
	gc(t, dir, "up", "-d", "--wait")
	rec, err := os.ReadFile(filepath.Join(root, "networks", namespace+"__netsup_default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var n struct{ Gateway string }
	if err := json.Unmarshal(rec, &n); err != nil {
		t.Fatal(err)
	}
	query := func() bool {
		m := new(mdns.Msg)
		m.SetQuestion("web.", mdns.TypeA)
		// The host is no container: any answer means the server is back.
		_, _, err := (&mdns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, n.Gateway+":53")
		return err == nil
	}

	pid := readPid(t, filepath.Join(state, "supervisor.pid"))
	killAndWait(t, pid)
	if !within(2*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(state, "supervisor.pid"))
		return err == nil && strings.TrimSpace(string(b)) != fmt.Sprint(pid) && query()
	}) {
		t.Fatalf("the supervisor did not come back and answer within 2 s of being killed")
	}
	if got := states(ps(t, dir)); got["netsup-web-1"] != "running" {
		t.Errorf("containers affected by supervisor death: %v", got)
	}

	// Away for good: watchdog and supervisor killed.
	killAndWait(t, readPid(t, filepath.Join(state, "supervisor-watchdog.pid")))
	killAndWait(t, readPid(t, filepath.Join(state, "supervisor.pid")))
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctr, err := c.LoadContainer(t.Context(), "netsup-web-1")
	if err != nil {
		t.Fatal(err)
	}
	// A task whose process is gone reports pid 0, and kill(0) would
	// SIGKILL this test's own process group (go test, make, the CI shell):
	// it did. The pid is taken only from a running task.
	var oldPid uint32
	if !within(3*time.Second, func() bool {
		task, err := ctr.Task(t.Context(), nil)
		if err != nil {
			return false
		}
		st, err := task.Status(t.Context())
		oldPid = task.Pid()
		return err == nil && st.Status == containerd.Running && oldPid > 1
	}) {
		t.Fatalf("netsup-web-1 is not running (pid %d):\n%s\nlogs:\n%s\nsupervisor log:\n%s", oldPid,
			gcRun(dir, nil, "ps", "-a").stdout, gcRun(dir, nil, "logs", "web").stdout, tailFile(filepath.Join(state, "supervisor.log"), 20))
	}
	if err := syscall.Kill(int(oldPid), syscall.SIGKILL); err != nil { // the container's process exits by itself
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(flag, "ok")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if query() {
		t.Fatalf("DNS answered with the supervisor and its watchdog dead")
	}
	gc(t, dir, "ps") // a project command brings the supervisor back
	restarted := within(2*time.Second, func() bool {
		t, err := ctr.Task(context.Background(), nil)
		if err != nil || t.Pid() == oldPid {
			return false
		}
		st, err := t.Status(context.Background())
		return err == nil && st.Status == containerd.Running
	})
	if !restarted {
		t.Errorf("the restart: always container that exited while the supervisor was away was not restarted within 2 s of its return")
	}
	// Restarted, the container's health starts over and the probe fails.
	if !within(2*time.Second, func() bool {
		return strings.Contains(gc(t, dir, "ps", "--format", "json", "web").stdout, `"Health":"unhealthy"`)
	}) {
		t.Errorf("the healthcheck that failed while the supervisor was away is not unhealthy after its return:\n%s", gc(t, dir, "ps", "web").stdout)
	}
	gc(t, dir, "down")
}

// Containers reach beyond the host through the network's one masquerade
// rule: a server in a network namespace the test makes, with no route
// back to the containers' subnet, answers, and sees the host's address.
func TestEgressIsMasqueraded(t *testing.T) {
	requires(t)
	suffix := strconv.Itoa(os.Getpid() % 10000)
	nsName, hostIf, nsIf := "gcit-out-"+suffix, "gcvh"+suffix, "gcvo"+suffix
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ipCmd("netns", "add", nsName)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", nsName).Run() })
	ipCmd("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostIf).Run() })
	ipCmd("link", "set", nsIf, "netns", nsName)
	ipCmd("addr", "add", "192.168.250.1/30", "dev", hostIf)
	ipCmd("link", "set", hostIf, "up")
	ipCmd("-n", nsName, "addr", "add", "192.168.250.2/30", "dev", nsIf)
	ipCmd("-n", nsName, "link", "set", nsIf, "up")
	ipCmd("-n", nsName, "link", "set", "lo", "up")

	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	srv := exec.Command("ip", "netns", "exec", nsName, "busybox", "httpd", "-f", "-v", "-p", "192.168.250.2:8099", "-h", www)
	srv.Stderr = &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })

	masqRules := func() []string {
		out, _ := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output()
		var rules []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, `--comment "gocompose gc-`) {
				rules = append(rules, l)
			}
		}
		return rules
	}
	before := masqRules()
	dir := project(t, "egress", "services:\n  client:\n    image: busybox\n    command: "+idle+"\n")
	gc(t, dir, "up", "-d")
	if added := len(masqRules()) - len(before); added != 1 {
		t.Errorf("up added %d masquerade rules, want 1: %v", added, masqRules())
	}
	r := gcRun(dir, nil, "exec", "-T", "client", "timeout", "5", "wget", "-q", "-O", "-", "http://192.168.250.2:8099/")
	if r.code != 0 || r.stdout != "outside\n" {
		t.Fatalf("container to a server beyond the host: %s", r)
	}
	gc(t, dir, "down")
	_ = srv.Process.Kill()
	_ = srv.Wait()
	if !strings.Contains(log.String(), "192.168.250.1") {
		t.Errorf("the server did not see the host's address (no masquerade?):\n%s", log.String())
	}
	if after := masqRules(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("masquerade rules after down differ:\nbefore %v\nafter  %v", before, after)
	}
}

// network_mode: service:X shares X's network namespace; compose-go makes
// that a depends_on with restart: true, so recreating X restarts the
// sharer, which then joins X's new namespace. restart X restarts it too,
// unless --no-deps.
func TestNetworkModeServiceFollowsRecreate(t *testing.T) {
	requires(t)
	dir := project(t, "nmsvc", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n  side:\n    image: busybox\n    command: %s\n    network_mode: service:web\n", httpd, idle))
	gc(t, dir, "up", "-d")
	local := func() result {
		return gcRun(dir, nil, "exec", "-T", "side", "timeout", "3", "wget", "-qO-", "http://127.0.0.1:8080/")
	}
	if r := local(); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("side reaching web on localhost: %s", r)
	}
	r := gc(t, dir, "up", "-d", "--force-recreate", "web")
	if !strings.Contains(r.stderr, "Container nmsvc-side-1 Restarting") {
		t.Errorf("recreating web did not restart side:\n%s", r.stderr)
	}
	if r := local(); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Errorf("side reaching the recreated web on localhost: %s", r)
	}
	r = gc(t, dir, "restart", "web")
	if !strings.Contains(r.stderr, "Container nmsvc-side-1 Restarting") {
		t.Errorf("restart web did not restart side:\n%s", r.stderr)
	}
	r = gc(t, dir, "restart", "--no-deps", "web")
	if strings.Contains(r.stderr, "nmsvc-side-1") {
		t.Errorf("restart --no-deps web restarted side:\n%s", r.stderr)
	}
}

// gcBridges lists the host's gocompose bridges.
func gcBridges() map[string]bool {
	out, _ := exec.Command("ip", "-o", "link", "show", "type", "bridge").Output()
	set := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasPrefix(f[1], "gc-") {
			set[strings.TrimSuffix(f[1], ":")] = true
		}
	}
	return set
}

// After a reboot the containers exist but their network namespaces,
// bridge and masquerade rule are gone: start (and up) make them again with
// the same addresses, and the services find each other by name.
func TestStartAfterReboot(t *testing.T) {
	requires(t)
	before := gcBridges()
	dir := project(t, "reboot", fmt.Sprintf("services:\n  web:\n    image: busybox\n    command: %s\n  client:\n    image: busybox\n    command: %s\n    depends_on: [web]\n", httpd, idle))
	gc(t, dir, "up", "-d")
	var bridge string
	for b := range gcBridges() {
		if !before[b] {
			bridge = b
		}
	}
	if bridge == "" {
		t.Fatal("no new bridge after up")
	}
	ipBefore := strings.TrimSpace(gc(t, dir, "exec", "-T", "web", "hostname", "-i").stdout)
	reboot := func() {
		t.Helper()
		gc(t, dir, "stop", "-t", "0")
		nsDir := filepath.Join(state, "netns", namespace)
		for _, id := range []string{"reboot-web-1", "reboot-client-1"} {
			p := filepath.Join(nsDir, id)
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
			if err := os.Remove(p); err != nil {
				t.Fatalf("simulated reboot: %v", err)
			}
		}
		if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
			t.Fatalf("simulated reboot: %v %s", err, out)
		}
		// The tables empty: the masquerade rule and every filter rule
		// naming the bridge go.
		for _, table := range []string{"nat", "filter"} {
			rules, _ := exec.Command("iptables", "-w", "-t", table, "-S").Output()
			for _, l := range strings.Split(string(rules), "\n") {
				if strings.HasPrefix(l, "-A ") && strings.Contains(l, bridge) {
					rule, err := shellwords.Parse(strings.TrimPrefix(l, "-A "))
					if err != nil {
						t.Fatal(err)
					}
					args := append([]string{"-w", "-t", table, "-D"}, rule...)
					if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
						t.Fatalf("simulated reboot: iptables %v: %v %s", args, err, out)
					}
				}
			}
		}
	}
	for _, verb := range [][]string{{"start"}, {"up", "-d"}} {
		reboot()
		r := gc(t, dir, verb...)
		if !strings.Contains(r.stderr, "Container reboot-web-1 Network restored") {
			t.Errorf("%v after a reboot:\n%s", verb, r.stderr)
		}
		if r := fetch(dir, "client", "http://web:8080/"); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
			t.Errorf("%v after a reboot: client fetching web: %s", verb, r)
		}
		if ip := strings.TrimSpace(gc(t, dir, "exec", "-T", "web", "hostname", "-i").stdout); ip != ipBefore {
			t.Errorf("%v after a reboot: web's address %s, was %s", verb, ip, ipBefore)
		}
		if nat, _ := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output(); !strings.Contains(string(nat), "gocompose "+bridge) {
			t.Errorf("%v after a reboot: no masquerade rule", verb)
		}
		if fwd, _ := exec.Command("iptables", "-w", "-S", "GOCOMPOSE-FORWARD").Output(); strings.Count(string(fwd), "gocompose "+bridge) != 2 {
			t.Errorf("%v after a reboot: forwarding rules\n%s", verb, fwd)
		}
		if iso, _ := exec.Command("iptables", "-w", "-S", "CNI-ISOLATION-STAGE-2").Output(); !strings.Contains(string(iso), "-o "+bridge) {
			t.Errorf("%v after a reboot: isolation rules\n%s", verb, iso)
		}
	}
}

// A network recorded by an older build (before its filter rules became per
// network) keeps working beside a new one: its containers still attach
// through the firewall plugin, the two stay isolated from each other, and
// down removes the plugin's per-container rules with the rest.
func TestNetworkFromAnOlderBuild(t *testing.T) {
	requires(t)
	before := hostNetState(t)
	dir := project(t, "oldnet", fmt.Sprintf(`
services:
  a:
    image: busybox
    command: %[1]s
    networks: [old]
  b:
    image: busybox
    command: %[1]s
    networks: [new]
  both:
    image: busybox
    command: %[1]s
    networks: [old, new]
networks:
  old:
  new:
`, httpd))
	// The record as builds before NetworkFirewall wrote it.
	record := fmt.Sprintf(`{"name": "oldnet_old", "namespace": %q, "project": "oldnet", "bridge": %q,
  "subnet": "10.123.46.0/24", "gateway": "10.123.46.1", "subnet_masq": true}`, namespace, network.BridgeName(namespace, "oldnet_old"))
	if err := os.MkdirAll(filepath.Join(root, "networks"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "networks", namespace+"__oldnet_old.json"), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	gc(t, dir, "up", "-d")
	aIP := strings.TrimSpace(gc(t, dir, "exec", "-T", "a", "hostname", "-i").stdout)
	bIP := strings.TrimSpace(gc(t, dir, "exec", "-T", "b", "hostname", "-i").stdout)
	if !strings.HasPrefix(aIP, "10.123.46.") {
		t.Fatalf("a's address %q is not on the recorded network", aIP)
	}
	forward, _ := exec.Command("iptables", "-w", "-S", "CNI-FORWARD").Output()
	if !strings.Contains(string(forward), "-s "+aIP+"/32 -j ACCEPT") {
		t.Errorf("a on the older network has no firewall plugin rule:\n%s", forward)
	}
	for _, target := range []string{"a", "b"} {
		if r := fetch(dir, "both", "http://"+target+":8080/"); r.code != 0 {
			t.Errorf("both -> %s: %s", target, r)
		}
	}
	if r := fetch(dir, "a", "http://"+bIP+":8080/"); r.code == 0 {
		t.Errorf("a (older network) reached b (new network) at %s: %s", bIP, r)
	}
	if r := fetch(dir, "b", "http://"+aIP+":8080/"); r.code == 0 {
		t.Errorf("b (new network) reached a (older network) at %s: %s", aIP, r)
	}
	gc(t, dir, "down")
	assertNothingLeft(t, "oldnet")
	after := hostNetState(t)
	// The firewall plugin makes its CNI-FORWARD chain and never removes
	// it; that, and only that, may be new.
	scaffold := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if l != `-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD` &&
				l != `-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN` {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	before["filter"], after["filter"] = scaffold(before["filter"]), scaffold(after["filter"])
	for k := range before {
		if before[k] != after[k] {
			t.Errorf("down left %s behind:\nbefore:\n%s\nafter:\n%s", k, before[k], after[k])
		}
	}
}
