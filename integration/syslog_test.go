package integration

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
