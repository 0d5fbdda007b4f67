package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/logdriver"
	"github.com/gocompose/gocompose/model"
)

func TestLogConfigFrom(t *testing.T) {
	t.Parallel()
	c, err := LogConfigFrom("json-file", map[string]string{"max-size": "10k", "max-file": "3"})
	if err != nil || c.MaxSize != 10*1024 || c.MaxFile != 3 {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := LogConfigFrom("json-file", map[string]string{"max-file": "zero"}); err == nil {
		t.Fatal("bad max-file accepted")
	}
	if _, err := LogConfigFrom("json-file", map[string]string{"max-size": "huge"}); err == nil {
		t.Fatal("bad max-size accepted")
	}
}

func TestSyslogConfig(t *testing.T) {
	t.Parallel()
	c, err := LogConfigFrom("syslog", map[string]string{"syslog-address": "udp://127.0.0.1", "syslog-facility": "local0", "tag": "{{.Name}}/{{.ID}}"})
	if err != nil || c.Syslog == nil || c.Syslog.Network != "udp" || c.Syslog.Address != "127.0.0.1:514" || c.Syslog.Facility != 16<<3 {
		t.Fatalf("got %+v, %v", c.Syslog, err)
	}
	if tag, err := resolveTag(c.Syslog.Tag, TagInfo{Name: "p-web-1", ID: "0123456789ab"}); err != nil || tag != "p-web-1/0123456789ab" {
		t.Errorf("tag %q, %v", tag, err)
	}
	c, err = LogConfigFrom("syslog", map[string]string{"syslog-address": "unixgram:///dev/log"})
	if err != nil || c.Syslog.Network != "unixgram" || c.Syslog.Address != "/dev/log" || c.Syslog.Tag != "{{.ID}}" || c.Syslog.Facility != 3<<3 {
		t.Errorf("unixgram, defaults: %+v, %v", c.Syslog, err)
	}
	for _, opts := range []map[string]string{
		{"syslog-address": "tcp+tls://127.0.0.1:6514"}, {"syslog-address": "udp://"},
		{"syslog-facility": "kernel"}, {"tag": "{{.Name"},
	} {
		if _, err := LogConfigFrom("syslog", opts); err == nil {
			t.Errorf("%v accepted", opts)
		}
	}
}

func TestFluentdConfig(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{"": "tcp localhost:24224", "fluent.example:24225": "tcp fluent.example:24225",
		"tcp://127.0.0.1": "tcp 127.0.0.1:24224", "unix:///run/fluent.sock": "unix /run/fluent.sock"} {
		c, err := LogConfigFrom("fluentd", map[string]string{"fluentd-address": addr})
		if err != nil || c.Fluentd.Network+" "+c.Fluentd.Address != want || c.Fluentd.Tag != "{{.ID}}" {
			t.Errorf("%q: %+v, %v; want %s", addr, c.Fluentd, err, want)
		}
	}
	if c, err := LogConfigFrom("fluentd", map[string]string{"fluentd-async": "true"}); err != nil || !c.Fluentd.Async {
		t.Errorf("async: %+v, %v", c.Fluentd, err)
	}
	for _, opts := range []map[string]string{{"fluentd-address": "udp://x:1"}, {"fluentd-address": "x:99999"}, {"fluentd-async": "maybe"}} {
		if _, err := LogConfigFrom("fluentd", opts); err == nil {
			t.Errorf("%v accepted", opts)
		}
	}
}

// The writer produces Docker's json-file lines, splits at 16 KiB and
// rotates by size keeping max-file files.
func TestLogWriterFormatAndRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, _ := json.Marshal(model.Log{MaxSize: 400, MaxFile: 3})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := logdriver.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&in, "line %02d\n", i)
	}
	w.Copy("stdout", &in)
	w.Copy("stderr", strings.NewReader("oops\n"))
	w.Close()

	files, _ := filepath.Glob(filepath.Join(dir, "json.log*"))
	if len(files) != 3 {
		t.Fatalf("want 3 files (json.log, .1, .2), got %v", files)
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.Size() > 400 {
			t.Errorf("%s is %d bytes, over max-size", f, st.Size())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "json.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last LogEntry
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Log != "oops\n" || last.Stream != "stderr" || last.Time.IsZero() {
		t.Errorf("last entry %+v", last)
	}

	long := strings.Repeat("x", logdriver.MaxLine+10) + "\n"
	dir2 := t.TempDir()
	w2, _ := logdriver.Open(dir2)
	w2.Copy("stdout", strings.NewReader(long))
	w2.Close()
	b, _ = os.ReadFile(filepath.Join(dir2, "json.log"))
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("a %d-byte line became %d entries, want 2", len(long), n)
	}
}

func TestReadLogsTailSinceAcrossRotation(t *testing.T) {
	t.Setenv("GOCOMPOSE_ROOT", t.TempDir())
	r := &Runtime{namespace: "ns"}
	dir := logDir("ns", "c1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, lines ...string) {
		var b bytes.Buffer
		for _, l := range lines {
			e, _ := json.Marshal(LogEntry{Log: l + "\n", Stream: "stdout"})
			b.Write(append(e, '\n'))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("json.log.1", "a", "b")
	write("json.log", "c", "d")
	var got []string
	if err := r.ReadLogs(context.Background(), "c1", LogOptions{Tail: -1}, func(e LogEntry) { got = append(got, e.Log) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "") != "a\nb\nc\nd\n" {
		t.Errorf("all logs: %q", got)
	}
	got = nil
	_ = r.ReadLogs(context.Background(), "c1", LogOptions{Tail: 3}, func(e LogEntry) { got = append(got, e.Log) })
	if strings.Join(got, "") != "b\nc\nd\n" {
		t.Errorf("tail 3: %q", got)
	}
}
