package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/health"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// A healthcheck's verdicts follow Docker's: retries failures in a row make
// it unhealthy, a success heals it, start_period forgives, and a probe that
// could not run says nothing.
func TestJudge(t *testing.T) {
	cfg := health.Config{Retries: 2, StartPeriod: time.Minute}.WithDefaults()
	fail, ok := health.Result{ExitCode: 1}, health.Result{ExitCode: 0}
	st := health.State{Status: health.Starting}
	// Within start_period, failures while starting do not count.
	st = judge(st, fail, cfg, time.Second)
	if st.Status != health.Starting || st.FailingStreak != 0 {
		t.Fatalf("failure in start_period: %+v", st)
	}
	st = judge(st, ok, cfg, 2*time.Second)
	if st.Status != health.Healthy {
		t.Fatalf("success: %+v", st)
	}
	// Once healthy, failures count even within start_period.
	st = judge(st, fail, cfg, 3*time.Second)
	if st.Status != health.Healthy || st.FailingStreak != 1 {
		t.Fatalf("one failure of two allowed: %+v", st)
	}
	st = judge(st, fail, cfg, 4*time.Second)
	if st.Status != health.Unhealthy || st.FailingStreak != 2 {
		t.Fatalf("retries failures: %+v", st)
	}
	// containerd away: no verdict.
	st = judge(st, health.Result{ExitCode: probeUnreachable}, cfg, 5*time.Second)
	if st.Status != health.Starting || st.FailingStreak != 0 {
		t.Fatalf("unreachable: %+v", st)
	}
	// After start_period, failures while starting count.
	st = judge(health.State{Status: health.Starting}, fail, cfg, 2*time.Minute)
	if st.FailingStreak != 1 {
		t.Fatalf("failure after start_period: %+v", st)
	}
	for i := range 7 {
		st = judge(st, health.Result{ExitCode: i}, cfg, 2*time.Minute)
	}
	if len(st.Log) != 5 || st.Log[4].ExitCode != 6 {
		t.Errorf("log keeps the last five: %+v", st.Log)
	}
}

type fakeExec struct {
	code int
	err  error
	out  string
	wait bool // block until the probe's deadline
}

func (f fakeExec) Exec(ctx context.Context, _ string, req runtime.ExecRequest) (int, error) {
	if f.wait {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if req.OutputFile != "" { // the shim writes the file
		if err := os.WriteFile(req.OutputFile, []byte(f.out), 0o600); err != nil {
			return 0, err
		}
	} else {
		fmt.Fprint(req.Stdio.Out, f.out)
	}
	return f.code, f.err
}

func TestProbe(t *testing.T) {
	cfg := health.Config{Test: []string{"check"}, Timeout: 50 * time.Millisecond}.WithDefaults()
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name string
		ex   fakeExec
		code int
		out  string
	}{
		{"healthy", fakeExec{out: "ok\n"}, 0, "ok\n"},
		{"failing, output capped at 4 KiB", fakeExec{code: 3, out: long}, 3, long[:4096]},
		{"timeout", fakeExec{wait: true}, -1, "Health check exceeded timeout (50ms)"},
		{"containerd away", fakeExec{err: fmt.Errorf("dial: %w", syscall.ECONNREFUSED)}, probeUnreachable, "containerd cannot be reached: dial: connection refused"},
		{"unavailable", fakeExec{err: errdefs.ErrUnavailable}, probeUnreachable, "containerd cannot be reached: unavailable"},
		{"exec fails", fakeExec{err: errors.New("no such file")}, -1, "no such file"},
	} {
		for _, file := range []string{"", filepath.Join(t.TempDir(), "c.probe")} {
			res := probe(context.Background(), tc.ex, "c", cfg, file)
			if res.ExitCode != tc.code || res.Output != tc.out || res.End.Before(res.Start) {
				t.Errorf("%s (file %q): exit %d output %.60q", tc.name, file, res.ExitCode, res.Output)
			}
			if file != "" {
				if _, err := os.Stat(file); !os.IsNotExist(err) {
					t.Errorf("%s: the probe's output file is left: %v", tc.name, err)
				}
			}
		}
	}
}

func TestRestartPolicy(t *testing.T) {
	const state = "/run/gocompose"
	l := func(kv ...string) map[string]string {
		m := map[string]string{labels.State: state}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		lbls    map[string]string
		code    uint32
		restart bool
		delay   time.Duration
		why     string
	}{
		{"no policy", l(), 1, false, 0, ""},
		{"no", l(labels.Restart, "no"), 1, false, 0, ""},
		{"always after success", l(labels.Restart, "always"), 0, true, 100 * time.Millisecond, ""},
		{"unless-stopped, user stopped", l(labels.Restart, "unless-stopped", labels.UserStopped, "True"), 1, false, 0, ""},
		{"on-failure, success", l(labels.Restart, "on-failure"), 0, false, 0, ""},
		{"on-failure, failure, third restart", l(labels.Restart, "on-failure", labels.RestartCount, "2"), 1, true, 400 * time.Millisecond, ""},
		{"on-failure:2 reached", l(labels.Restart, "on-failure:2", labels.RestartCount, "2"), 1, false, 0, "restart limit 2 reached"},
		{"back-off capped at 10s", l(labels.Restart, "always", labels.RestartCount, "30"), 1, true, 10 * time.Second, ""},
		{"custom first delay", l(labels.Restart, "always", labels.RestartDelay, "1s", labels.RestartCount, "1"), 1, true, 2 * time.Second, ""},
		{"another installation's", map[string]string{labels.Restart: "always", labels.State: "/elsewhere"}, 1, false, 0, ""},
		{"unknown policy", l(labels.Restart, "sometimes"), 1, false, 0, ""},
	} {
		restart, delay, why := restartPolicy(tc.lbls, tc.code, state)
		if restart != tc.restart || delay != tc.delay || why != tc.why {
			t.Errorf("%s: got %v %v %q, want %v %v %q", tc.name, restart, delay, why, tc.restart, tc.delay, tc.why)
		}
	}
}

func TestEndpointsOf(t *testing.T) {
	lbls := map[string]string{
		labels.Networks: `[{"network":"p_default","ifname":"eth0","ip":"10.89.0.2","names":["p-web-1","web"]},` +
			`{"network":"p_back","ifname":"eth1","ip":"bogus","names":["web"]}]`,
		labels.DNS: "192.0.2.53",
	}
	eps, err := endpointsOf("ns", "p-web-1", lbls)
	if len(eps) != 1 || err == nil || !strings.Contains(err.Error(), "network p_back") {
		t.Fatalf("endpoints %+v, err %v", eps, err)
	}
	e := eps[0]
	if e.Network != "ns/p_default" || e.Container != "ns/p-web-1" || e.IP.String() != "10.89.0.2" ||
		len(e.Names) != 2 || len(e.Upstreams) != 1 || e.Upstreams[0] != "192.0.2.53:53" {
		t.Errorf("endpoint %+v", e)
	}
	if _, err := endpointsOf("ns", "x", map[string]string{labels.Networks: "{"}); err == nil {
		t.Error("a broken label gave no error")
	}
	// A container a start-first update withholds answers only its own name.
	lbls[labels.DNSWithheld] = "web,api-alias"
	eps, _ = endpointsOf("ns", "p-web-1", lbls)
	if len(eps) != 1 || !slices.Equal(eps[0].Names, []string{"p-web-1"}) {
		t.Errorf("withheld names still answered: %+v", eps)
	}
}
