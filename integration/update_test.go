package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Rolling updates (deploy.update_config), which Docker Compose ignores
// outside swarm: measured as a user would, with clients asking during
// `up -d` after a change.

const rollingWeb = `
services:
  web:
    image: busybox
    command: %[1]s
    environment: {VERSION: "%[2]s"}
    ports: ["127.0.0.1:18941:8080"]
    healthcheck:
      test: %[3]s
      interval: 1s
      timeout: 2s
      retries: 2
    deploy:
      update_config: {order: start-first}
  client:
    image: busybox
    command: %[4]s
`

const healthyProbe = `["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"]`

// poller GETs url on a fresh connection every 50 ms until stopped, and
// counts what it got.
type poller struct {
	mu     sync.Mutex
	ok     int
	failed []string
	bodies map[string]int
	stop   chan struct{}
	done   chan struct{}
}

func pollHTTP(url string) *poller {
	p := &poller{bodies: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := c.Get(url)
			var body []byte
			if err == nil {
				body = make([]byte, 64)
				n, _ := resp.Body.Read(body)
				body = body[:n]
				resp.Body.Close()
			}
			p.mu.Lock()
			if err != nil {
				p.failed = append(p.failed, err.Error())
			} else {
				p.ok++
				p.bodies[strings.TrimSpace(string(body))]++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *poller) halt() {
	close(p.stop)
	<-p.done
}

// lookups runs, in the client container, nslookup of name in a loop until
// /tmp/stop exists, printing OK or FAIL per lookup; wait returns the counts.
func lookups(t *testing.T, dir, name string) (wait func() (ok, failed int)) {
	t.Helper()
	script := fmt.Sprintf(`while [ ! -e /tmp/stop ]; do if nslookup %s >/dev/null 2>&1; then echo OK; else echo FAIL; fi; sleep 0.05; done`, name)
	cmd := gcCommand(dir, "exec", "-T", "client", "sh", "-c", script)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() (int, int) {
		gc(t, dir, "exec", "-T", "client", "touch", "/tmp/stop")
		if err := cmd.Wait(); err != nil {
			t.Errorf("lookup loop: %v", err)
		}
		return strings.Count(out.String(), "OK"), strings.Count(out.String(), "FAIL")
	}
}

func hostnameOf(t *testing.T, dir, service string, index int) string {
	t.Helper()
	return strings.TrimSpace(gc(t, dir, "exec", "-T", "--index", fmt.Sprint(index), service, "hostname").stdout)
}

func TestStartFirstUpdateHasNoDowntime(t *testing.T) {
	requires(t)
	dir := project(t, "zdt", fmt.Sprintf(rollingWeb, httpd, "1", healthyProbe, idle))
	gc(t, dir, "up", "-d", "--wait")
	before := hostnameOf(t, dir, "web", 1)

	p := pollHTTP("http://127.0.0.1:18941/")
	wait := lookups(t, dir, "web")
	time.Sleep(300 * time.Millisecond) // both clients are asking
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(fmt.Sprintf(rollingWeb, httpd, "2", healthyProbe, idle)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := gc(t, dir, "up", "-d")
	// Before up returned, the new container answers: on the published
	// port and by name.
	after := strings.TrimSpace(httpGet(t, "http://127.0.0.1:18941/"))
	time.Sleep(300 * time.Millisecond)
	p.halt()
	okLookups, failedLookups := wait()

	if !strings.Contains(r.stderr, "Container zdt-web-2 Started") || !strings.Contains(r.stderr, "Container zdt-web-1 Removed") {
		t.Errorf("up did not replace web-1 by web-2:\n%s", r.stderr)
	}
	if now := hostnameOf(t, dir, "web", 2); after != now || after == before {
		t.Errorf("after up the port answered %q; old container %q, new %q", after, before, now)
	}
	if len(p.failed) > 0 || p.ok < 10 {
		t.Errorf("HTTP during the update: %d answered, %d failed: %v", p.ok, len(p.failed), p.failed)
	}
	if p.bodies[before] == 0 || p.bodies[after] == 0 {
		t.Errorf("answers by container: %v (old %q, new %q)", p.bodies, before, after)
	}
	if failedLookups > 0 || okLookups < 10 {
		t.Errorf("DNS during the update: %d answered, %d failed", okLookups, failedLookups)
	}
	ps := gc(t, dir, "ps", "--format", "{{.Name}}").stdout
	if strings.Contains(ps, "zdt-web-1") || !strings.Contains(ps, "zdt-web-2") {
		t.Errorf("ps after the update:\n%s", ps)
	}
	t.Logf("during the update: %d HTTP answers (%v), %d lookups, none failed", p.ok, p.bodies, okLookups)

	// --force-recreate takes the same path: web-2 is replaced by web-3.
	p = pollHTTP("http://127.0.0.1:18941/")
	r = gc(t, dir, "up", "-d", "--force-recreate", "web")
	p.halt()
	if !strings.Contains(r.stderr, "Container zdt-web-3 Started") || len(p.failed) > 0 || p.ok < 5 {
		t.Errorf("up --force-recreate: %d answered, failures %v\n%s", p.ok, p.failed, r.stderr)
	}
}

func TestStartFirstUpdateThatNeverGetsHealthy(t *testing.T) {
	requires(t)
	dir := project(t, "zdtbad", strings.ReplaceAll(fmt.Sprintf(rollingWeb, httpd, "1", healthyProbe, idle), "18941", "18942"))
	gc(t, dir, "up", "-d", "--wait")
	before := hostnameOf(t, dir, "web", 1)
	netBefore := hostNetState(t)

	bad := `["CMD-SHELL", "echo not ready yet; exit 1"]`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(strings.ReplaceAll(fmt.Sprintf(rollingWeb, httpd, "2", bad, idle), "18941", "18942")), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pollHTTP("http://127.0.0.1:18942/")
	r := gcRun(dir, nil, "up", "-d")
	p.halt()
	if r.code == 0 || !strings.Contains(r.stderr, "not ready yet") || !strings.Contains(r.stderr, "zdtbad-web-1 keeps serving") {
		t.Fatalf("up with a never-healthy new container: %s", r)
	}
	if got := strings.TrimSpace(httpGet(t, "http://127.0.0.1:18942/")); got != before {
		t.Errorf("the port answers %q, want the old container %q", got, before)
	}
	if len(p.failed) > 0 || p.bodies[before] != p.ok {
		t.Errorf("HTTP during the failed update: %v, failures %v", p.bodies, p.failed)
	}
	ps := gc(t, dir, "ps", "-a", "--format", "{{.Name}}").stdout
	if strings.Contains(ps, "zdtbad-web-2") || !strings.Contains(ps, "zdtbad-web-1") {
		t.Errorf("ps -a after the failed update:\n%s", ps)
	}
	// Nothing of the new container is left on the host: no namespace,
	// veth, address or rule beyond what the project had before.
	for k, v := range hostNetState(t) {
		if netBefore[k] != v {
			t.Errorf("host %s changed by the failed update:\nbefore:\n%s\nafter:\n%s", k, netBefore[k], v)
		}
	}
}

func TestRollingUpdateOfReplicasKeepsThemAllAnswering(t *testing.T) {
	requires(t)
	file := func(version string) string {
		return fmt.Sprintf(`
services:
  web:
    image: busybox
    command: %[1]s
    environment: {VERSION: "%[2]s"}
    healthcheck:
      test: %[3]s
      interval: 1s
      retries: 2
    deploy:
      replicas: 3
      update_config: {order: start-first, parallelism: 1}
  client:
    image: busybox
    command: %[4]s
`, httpd, version, healthyProbe, idle)
	}
	dir := project(t, "zdtrep", file("1"))
	gc(t, dir, "up", "-d", "--wait")
	// In the client: every resolved address must answer; print how many did.
	script := `while [ ! -e /tmp/stop ]; do n=0; for ip in $(nslookup web 2>/dev/null | awk '/^Address/ && NR>2 {print $NF}'); do timeout 2 wget -q -O /dev/null http://$ip:8080/ && n=$((n+1)); done; echo "answered $n"; sleep 0.1; done`
	cmd := gcCommand(dir, "exec", "-T", "client", "sh", "-c", script)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(file("2")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := gc(t, dir, "up", "-d")
	gc(t, dir, "exec", "-T", "client", "touch", "/tmp/stop")
	if err := cmd.Wait(); err != nil {
		t.Errorf("client loop: %v", err)
	}
	counts := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		counts[l]++
	}
	for l := range counts {
		if l != "answered 3" && l != "answered 4" {
			t.Errorf("fewer than 3 healthy replicas answering during the update: %v", counts)
			break
		}
	}
	if counts["answered 3"] < 5 {
		t.Errorf("the client barely ran: %v", counts)
	}
	// One at a time: each old replica is removed before the next new one
	// is created.
	order := []string{"zdtrep-web-4 Started", "zdtrep-web-1 Removed", "zdtrep-web-5 Started", "zdtrep-web-2 Removed", "zdtrep-web-6 Started", "zdtrep-web-3 Removed"}
	last := -1
	for _, s := range order {
		i := strings.Index(r.stderr, s)
		if i < last {
			t.Errorf("%q out of order (want %v):\n%s", s, order, r.stderr)
		}
		last = i
	}
	t.Logf("answers during the update: %v", counts)
}
