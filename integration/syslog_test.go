package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// syslogSink collects datagrams sent to a listener the test runs.
type syslogSink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *syslogSink) serve(c net.PacketConn) {
	buf := make([]byte, 64*1024)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, string(buf[:n]))
		s.mu.Unlock()
	}
}

func (s *syslogSink) find(re *regexp.Regexp, d time.Duration) (string, bool) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		s.mu.Lock()
		for _, m := range s.msgs {
			if re.MatchString(m) {
				s.mu.Unlock()
				return m, true
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.msgs, "|"), false
}

// The syslog driver sends every line to the syslog address, with the
// facility, severity (stdout info, stderr err) and tag asked for, in the
// formats Docker uses for network and local sockets; logs still reads the
// lines (Docker's dual logging); a socket nobody listens on fails the
// start, as in Docker.
func TestSyslogLogDriver(t *testing.T) {
	requires(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	sockPath := filepath.Join(t.TempDir(), "log.sock")
	ux, err := net.ListenPacket("unixgram", sockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	var overUDP, overUnix syslogSink
	go overUDP.serve(udp)
	go overUnix.serve(ux)
	dir := project(t, "sysl", fmt.Sprintf(`services:
  net:
    image: busybox
    command: ["sh", "-c", "echo to-out; echo to-err >&2; sleep 1000"]
    logging:
      driver: syslog
      options:
        syslog-address: udp://%s
        syslog-facility: local0
        tag: "app-{{.Name}}"
  local:
    image: busybox
    command: ["sh", "-c", "echo local-out; sleep 1000"]
    logging:
      driver: syslog
      options:
        syslog-address: unixgram://%s
`, udp.LocalAddr(), sockPath))
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	// RFC 3339 time, host name, tag[pid]: message.
	if m, ok := overUDP.find(regexp.MustCompile(`^<134>\d{4}-\d\d-\d\dT\S+ \S+ app-sysl-net-1\[\d+\]: to-out\n?$`), 10*time.Second); !ok {
		t.Errorf("stdout over udp, local0.info: got %q", m)
	}
	if m, ok := overUDP.find(regexp.MustCompile(`^<131>\S+ \S+ app-sysl-net-1\[\d+\]: to-err\n?$`), 5*time.Second); !ok {
		t.Errorf("stderr over udp, local0.err: got %q", m)
	}
	// A local socket: the traditional time stamp and no host name; the
	// default tag is the container's short ID and the facility daemon.
	id := strings.TrimSpace(gc(t, dir, "ps", "-q", "local").stdout)
	id = id[:min(12, len(id))]
	if m, ok := overUnix.find(regexp.MustCompile(`^<30>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d `+regexp.QuoteMeta(id)+`\[\d+\]: local-out\n?$`), 10*time.Second); !ok || len(id) != 12 {
		t.Errorf("stdout over unixgram, daemon.info, tag %q: got %q", id, m)
	}
	if out := gc(t, dir, "logs", "net").stdout; !strings.Contains(out, "to-out") {
		t.Errorf("logs of a syslog container:\n%s", out)
	}

	bad := project(t, "syslbad", "services:\n  x:\n    image: busybox\n    command: [\"true\"]\n    logging:\n      driver: syslog\n      options:\n        syslog-address: unixgram://"+filepath.Join(t.TempDir(), "nobody.sock")+"\n")
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "logging driver") {
		t.Errorf("up with a syslog socket nobody listens on: %s", r)
	}
	gcRun(bad, nil, "down")
}

// fluentRecord is one forward-protocol message: [tag, time, record].
type fluentRecord struct {
	tag    string
	time   int64
	record map[string]string
}

// fluentSink accepts forward-protocol connections and decodes messages.
func fluentSink(t *testing.T, l net.Listener) chan fluentRecord {
	t.Helper()
	out := make(chan fluentRecord, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := msgp.NewReader(c)
				for {
					var rec fluentRecord
					if n, err := r.ReadArrayHeader(); err != nil || n != 3 {
						return
					}
					rec.tag, _ = r.ReadString()
					rec.time, _ = r.ReadInt64()
					n, err := r.ReadMapHeader()
					if err != nil {
						return
					}
					rec.record = map[string]string{}
					for range n {
						k, _ := r.ReadString()
						v, _ := r.ReadString()
						rec.record[k] = v
					}
					out <- rec
				}
			}()
		}
	}()
	return out
}

// The fluentd driver sends Docker's record (log, source, container_id,
// container_name) under the tag, in the forward protocol; a fluentd that
// does not answer fails the start unless fluentd-async says to buffer.
func TestFluentdLogDriver(t *testing.T) {
	requires(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := fluentSink(t, l)
	dir := project(t, "fluent", fmt.Sprintf(`services:
  app:
    image: busybox
    command: ["sh", "-c", "echo to-out; echo to-err >&2; sleep 1000"]
    logging:
      driver: fluentd
      options:
        fluentd-address: %s
        tag: "docker.{{.Name}}"
`, l.Addr()))
	start := time.Now().Unix()
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	id := strings.TrimSpace(gc(t, dir, "ps", "-q", "--no-trunc", "app").stdout)
	got := map[string]fluentRecord{}
	for timeout := time.After(10 * time.Second); len(got) < 2; {
		select {
		case r := <-recs:
			got[r.record["source"]] = r
		case <-timeout:
			t.Fatalf("fluentd records: got %+v", got)
		}
	}
	for src, msg := range map[string]string{"stdout": "to-out", "stderr": "to-err"} {
		r := got[src]
		if r.tag != "docker.fluent-app-1" || r.record["log"] != msg || r.record["container_name"] != "/fluent-app-1" ||
			r.record["container_id"] != id || r.time < start-1 || r.time > time.Now().Unix()+1 {
			t.Errorf("%s record: %+v (container %s)", src, r, id)
		}
	}

	free, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := free.Addr().String()
	free.Close() // nobody listens there now
	bad := project(t, "fluentbad", "services:\n  x:\n    image: busybox\n    command: [\"true\"]\n    logging:\n      driver: fluentd\n      options:\n        fluentd-address: "+addr+"\n")
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "failed to initialize logging driver") {
		t.Errorf("up with a fluentd that does not answer: %s", r)
	}
	gcRun(bad, nil, "down")
	async := project(t, "fluentasync", "services:\n  x:\n    image: busybox\n    command: [\"sleep\", \"1000\"]\n    logging:\n      driver: fluentd\n      options:\n        fluentd-address: "+addr+"\n        fluentd-async: \"true\"\n")
	gc(t, async, "up", "-d")
	gc(t, async, "down", "-t", "0")
}

// The journald driver writes Docker's fields to the journal socket; without
// a journal the start fails with Docker's words. This host has no journald,
// so the test listens on the socket itself (and removes it after).
func TestJournaldLogDriver(t *testing.T) {
	requires(t)
	const sock = "/run/systemd/journal/socket"
	if _, err := os.Stat(sock); err == nil {
		t.Skip("a journald listens on this host; the test needs the socket to itself")
	}
	yaml := "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo to-out; echo to-err >&2; sleep 1000\"]\n    logging:\n      driver: journald\n      options:\n        tag: \"{{.Name}}-tag\"\n"
	dir := project(t, "jrnl", yaml)
	if r := gcRun(dir, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "journald is not enabled on this host") {
		t.Errorf("up with the journald driver and no journal: %s", r)
	}
	gcRun(dir, nil, "down")

	var made []string
	for _, d := range []string{"/run/systemd", "/run/systemd/journal"} {
		if _, err := os.Stat(d); err != nil {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			made = append([]string{d}, made...)
		}
	}
	j, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		j.Close()
		os.Remove(sock)
		for _, d := range made {
			os.Remove(d)
		}
	})
	var entries syslogSink
	go entries.serve(j)
	gc(t, dir, "up", "-d")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	id := strings.TrimSpace(gc(t, dir, "ps", "-q", "--no-trunc", "app").stdout)
	for msg, pri := range map[string]string{"to-out": "6", "to-err": "3"} {
		e, ok := entries.find(regexp.MustCompile(`(?m)^MESSAGE=`+msg+`$`), 10*time.Second)
		if !ok {
			t.Errorf("journal entry %s: got %q", msg, e)
			continue
		}
		for _, f := range []string{"PRIORITY=" + pri, "CONTAINER_NAME=jrnl-app-1", "CONTAINER_TAG=jrnl-app-1-tag",
			"SYSLOG_IDENTIFIER=jrnl-app-1-tag", "CONTAINER_ID=" + id[:12], "CONTAINER_ID_FULL=" + id, "IMAGE_NAME=busybox"} {
			if !strings.Contains(e, f+"\n") {
				t.Errorf("journal entry %s lacks %s:\n%s", msg, f, e)
			}
		}
	}
	if out := gc(t, dir, "logs", "app").stdout; !strings.Contains(out, "to-out") {
		t.Errorf("logs of a journald container:\n%s", out)
	}
}

// The none driver keeps nothing on disk: logs warns as Docker Compose does
// and exits 0, while attached up still shows the output (from the stream,
// as Docker Compose attaches); the container's stdin is not held open.
func TestNoneLogDriver(t *testing.T) {
	requires(t)
	dir := project(t, "nonelog", `services:
  quiet:
    image: busybox
    command: ["sh", "-c", "echo from-none; echo err-none >&2; sleep 0.5"]
    logging:
      driver: none
  catter:
    image: busybox
    command: ["cat"]
    logging:
      driver: none
`)
	r := gc(t, dir, "up")
	if !strings.Contains(r.stdout, "from-none") || !strings.Contains(r.stdout, "err-none") {
		t.Errorf("attached up of none-driver services:\n%s", r)
	}
	if !strings.Contains(r.stdout, "catter-1 exited with code 0") {
		t.Errorf("cat with the none driver should end at once (stdin /dev/null):\n%s", r)
	}
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	r = gc(t, dir, "logs", "quiet")
	if !strings.Contains(r.stderr, `Can't retrieve logs for "nonelog-quiet-1": configured logging driver does not support reading`) || strings.Contains(r.stdout, "from-none") {
		t.Errorf("logs of a none-driver container: %s", r)
	}
	if _, err := os.Stat(filepath.Join(root, "logs", namespace, "nonelog-quiet-1", "json.log")); err == nil {
		t.Error("the none driver wrote a json log")
	}
	// Its driver stays a while to replay the output, but not past down.
	gc(t, dir, "down", "-t", "0")
	time.Sleep(time.Second)
	if pids := processesWith(stdioDir("nonelog-quiet-1")); len(pids) > 0 {
		t.Errorf("after down the none driver still runs: %v", pids)
	}
}
