package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/supervisor"
	"github.com/mattn/go-shellwords"
)

// After a reboot only the supervisor starts (from its unit): it brings back
// the containers whose restart policy says so, in depends_on order, with
// their networks, DNS and published ports; the others stay stopped.
func TestSupervisorBringsContainersBackAfterReboot(t *testing.T) {
	requires(t)
	before := gcBridges()
	dir := project(t, "boot", fmt.Sprintf(`
services:
  db:
    image: busybox
    command: %[2]s
    restart: always
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 2}
  web:
    image: busybox
    command: %[1]s
    restart: unless-stopped
    ports: ["127.0.0.1:18961:8080"]
    depends_on:
      db: {condition: service_healthy}
  job:
    image: busybox
    command: %[2]s
    restart: on-failure
  off:
    image: busybox
    command: %[2]s
  stopped:
    image: busybox
    command: %[2]s
    restart: unless-stopped
`, httpd, idle))
	gc(t, dir, "up", "-d", "--wait")
	gc(t, dir, "stop", "-t", "0", "stopped")
	var bridge string
	for b := range gcBridges() {
		if !before[b] {
			bridge = b
		}
	}
	ids := []string{"boot-db-1", "boot-web-1", "boot-job-1", "boot-off-1", "boot-stopped-1"}

	// The reboot: the supervisor and every task gone, and with /run the
	// network namespaces, health states and the boot mark; the bridge and
	// its rules gone with the kernel's state.
	stopSupervisor()
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, id := range ids {
		ct, err := c.LoadContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if task, err := ct.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				t.Fatalf("simulated reboot: delete task %s: %v", id, err)
			}
		}
		ns := filepath.Join(state, "netns", namespace, id)
		_ = syscall.Unmount(ns, syscall.MNT_DETACH)
		_ = os.Remove(ns)
		health.Remove(state, namespace, id)
	}
	if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
		t.Fatalf("simulated reboot: %v %s", err, out)
	}
	nat, _ := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	for _, l := range strings.Split(string(nat), "\n") {
		if strings.Contains(l, "gocompose "+bridge) {
			rule, _ := shellwords.Parse(strings.TrimPrefix(l, "-A "))
			_ = exec.Command("iptables", append([]string{"-w", "-t", "nat", "-D"}, rule...)...).Run()
		}
	}
	_ = os.Remove(supervisor.BootedPath(state))

	// Only the supervisor starts, as its unit would start it.
	log, err := os.Create(filepath.Join(t.TempDir(), "supervisor.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// The supervisor the unit starts: gocompose-supervisor, which runs the
	// gocompose beside it for the boot.
	sup := gcCommand(dir, "--watchdog", "--address", address())
	sup.Path = filepath.Join(filepath.Dir(bin), "gocompose-supervisor")
	sup.Args[0] = sup.Path
	sup.Stdout, sup.Stderr = log, log
	sup.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sup.Wait() }()
	t.Cleanup(stopSupervisor)

	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(log.Name())
		if strings.Contains(string(b), "boot: done") {
			break
		}
		if time.Now().After(deadline) || strings.Contains(string(b), "boot: namespace") {
			t.Fatalf("the supervisor did not bring the project back within 60 s; its log:\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if body := httpGet(t, "http://127.0.0.1:18961/"); body == "" {
		t.Error("web's published port does not answer after the reboot")
	}
	running := map[string]bool{}
	for _, id := range ids {
		ct, _ := c.LoadContainer(ctx, id)
		if task, err := ct.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil && st.Status == containerd.Running {
				running[id] = true
			}
		}
	}
	for id, want := range map[string]bool{"boot-db-1": true, "boot-web-1": true, "boot-job-1": true, "boot-off-1": false, "boot-stopped-1": false} {
		if running[id] != want {
			t.Errorf("%s running after the reboot: %v, want %v", id, running[id], want)
		}
	}
	// web started only once db was healthy.
	st, _ := health.Read(state, namespace, "boot-db-1")
	var healthyAt time.Time
	for _, r := range st.Log {
		if r.ExitCode == 0 {
			healthyAt = r.End
			break
		}
	}
	web, _ := c.LoadContainer(ctx, "boot-web-1")
	lbls, _ := web.Labels(ctx)
	webStarted, _ := time.Parse(time.RFC3339Nano, lbls[labels.StartedAt])
	if healthyAt.IsZero() || webStarted.Before(healthyAt) {
		t.Errorf("web started at %s, db healthy at %s", webStarted, healthyAt)
	}
	// Names resolve again, and the records are the same addresses.
	if r := gcRun(dir, nil, "exec", "-T", "db", "nslookup", "web"); r.code != 0 {
		t.Errorf("DNS after the reboot: %s", r)
	}
	var ps []struct{ Name, State string }
	out := gc(t, dir, "ps", "-a", "--format", "json").stdout
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct{ Name, State string }
		if json.Unmarshal([]byte(l), &e) == nil {
			ps = append(ps, e)
		}
	}
	if len(ps) != 5 {
		t.Errorf("ps -a after the reboot: %s", out)
	}
	if b, _ := os.ReadFile(log.Name()); !strings.Contains(string(b), "boot: started boot-web-1") {
		t.Errorf("the supervisor's log does not say what it started:\n%s", b)
	}
}
