package runtime

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/coreos/go-systemd/v22/journal"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/logdriver"
	"github.com/gocompose/gocompose/model"
)

// LoggerArg is the first argument the containerd shim passes to the log
// driver (gocompose-logger, or gocompose itself).
const LoggerArg = logdriver.Arg

// LogConfigFrom reads a service's logging: max-size/max-file for the
// json-file log every driver keeps, and the syslog driver's options.
func LogConfigFrom(driver string, opts map[string]string) (model.Log, error) {
	var c model.Log
	var err error
	switch driver {
	case "none":
		c.Driver = "none"
	case "syslog":
		c.Syslog, err = syslogConfig(opts)
	case "journald":
		c.Journald = &model.Journald{Tag: cmp.Or(opts["tag"], "{{.ID}}")}
		err = checkTag(c.Journald.Tag)
	case "fluentd":
		c.Fluentd, err = fluentdConfig(opts)
	}
	if err != nil {
		return c, err
	}
	if v := opts["max-size"]; v != "" && v != "-1" {
		n, err := units.RAMInBytes(v)
		if err != nil {
			return c, fmt.Errorf("logging max-size %q: %w", v, err)
		}
		c.MaxSize = n
	}
	if v := opts["max-file"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("logging max-file %q: must be a positive number", v)
		}
		c.MaxFile = n
	}
	return c, nil
}

// syslogFacilities are Docker's syslog-facility names.
var syslogFacilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON,
	"auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS,
	"uucp": syslog.LOG_UUCP, "cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2, "local3": syslog.LOG_LOCAL3,
	"local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5, "local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// syslogConfig reads syslog-address (udp://, tcp://, unix://, unixgram://;
// none: the local syslog), syslog-facility and tag, as Docker does.
func syslogConfig(opts map[string]string) (*model.Syslog, error) {
	s := &model.Syslog{Facility: int(syslog.LOG_DAEMON), Tag: cmp.Or(opts["tag"], "{{.ID}}")}
	if a := opts["syslog-address"]; a != "" {
		u, err := url.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("logging syslog-address %q: %w", a, err)
		}
		switch u.Scheme {
		case "udp", "tcp":
			host := u.Host
			if u.Port() == "" {
				host = net.JoinHostPort(u.Hostname(), "514")
			}
			if _, _, err := net.SplitHostPort(host); err != nil || u.Hostname() == "" {
				return nil, fmt.Errorf("logging syslog-address %q: want %s://HOST[:PORT]", a, u.Scheme)
			}
			s.Network, s.Address = u.Scheme, host
		case "unix", "unixgram":
			if u.Path == "" {
				return nil, fmt.Errorf("logging syslog-address %q: want %s:///PATH", a, u.Scheme)
			}
			s.Network, s.Address = u.Scheme, u.Path
		default:
			return nil, fmt.Errorf("logging syslog-address %q: gocompose sends to udp://, tcp://, unix:// or unixgram:// addresses (not %q)", a, u.Scheme)
		}
	}
	if f := opts["syslog-facility"]; f != "" {
		p, ok := syslogFacilities[f]
		if !ok {
			return nil, fmt.Errorf("logging syslog-facility %q: not a syslog facility", f)
		}
		s.Facility = int(p)
	}
	if err := checkTag(s.Tag); err != nil {
		return nil, err
	}
	return s, nil
}

func checkTag(tag string) error {
	if _, err := template.New("tag").Parse(tag); err != nil {
		return fmt.Errorf("logging tag %q: %w", tag, err)
	}
	return nil
}

// fluentdConfig reads fluentd-address ([tcp://]HOST[:PORT] or
// unix:///PATH; Docker's default localhost:24224), tag and fluentd-async
// (or the deprecated fluentd-async-connect).
func fluentdConfig(opts map[string]string) (*model.Fluentd, error) {
	f := &model.Fluentd{Network: "tcp", Address: "localhost:24224", Tag: cmp.Or(opts["tag"], "{{.ID}}")}
	if a := opts["fluentd-address"]; a != "" {
		switch {
		case strings.HasPrefix(a, "unix://"):
			f.Network, f.Address = "unix", strings.TrimPrefix(a, "unix://")
			if f.Address == "" {
				return nil, fmt.Errorf("logging fluentd-address %q: want unix:///PATH", a)
			}
		default:
			hp := strings.TrimPrefix(a, "tcp://")
			if strings.Contains(hp, "://") {
				return nil, fmt.Errorf("logging fluentd-address %q: gocompose sends to tcp:// or unix:// addresses", a)
			}
			host, port, err := net.SplitHostPort(hp)
			if err != nil {
				host, port = hp, "24224"
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("logging fluentd-address %q: bad port", a)
			}
			f.Address = net.JoinHostPort(cmp.Or(host, "localhost"), port)
		}
	}
	for _, k := range []string{"fluentd-async", "fluentd-async-connect"} {
		if v := opts[k]; v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("logging %s %q: want true or false", k, v)
			}
			f.Async = f.Async || b
		}
	}
	if err := checkTag(f.Tag); err != nil {
		return nil, err
	}
	return f, nil
}

// TagInfo is what a log tag template can name, as in Docker.
type TagInfo struct {
	ID, FullID, Name, ImageID, ImageFullID, ImageName, DaemonName string
}

func resolveTag(tmpl string, info TagInfo) (string, error) {
	t, err := template.New("tag").Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, info); err != nil {
		return "", fmt.Errorf("logging tag %q: %w", tmpl, err)
	}
	return b.String(), nil
}

// LogEntry is one json-file line, in Docker's format.
type LogEntry = logdriver.Entry

func logDir(ns, id string) string { return logDirIn(paths.Logs(), ns, id) }

func logDirIn(logs, ns, id string) string { return logdriver.Dir(logs, ns, id) }

// LogPath is the current json-file log of a container.
func LogPath(ns, id string) string { return filepath.Join(logDir(ns, id), "json.log") }

func writeLogConfig(ns, id string, c model.Log, tag TagInfo) error {
	var err error
	if c.Syslog != nil {
		s := *c.Syslog
		if s.Tag, err = resolveTag(s.Tag, tag); err != nil {
			return err
		}
		c.Syslog = &s
	}
	if c.Journald != nil {
		// Docker's journald fields.
		j := model.Journald{}
		if j.Tag, err = resolveTag(c.Journald.Tag, tag); err != nil {
			return err
		}
		j.Fields = map[string]string{"CONTAINER_ID": tag.ID, "CONTAINER_ID_FULL": tag.FullID, "CONTAINER_NAME": tag.Name,
			"CONTAINER_TAG": j.Tag, "IMAGE_NAME": tag.ImageName, "SYSLOG_IDENTIFIER": j.Tag}
		c.Journald = &j
	}
	if c.Fluentd != nil {
		f := *c.Fluentd
		if f.Tag, err = resolveTag(f.Tag, tag); err != nil {
			return err
		}
		f.Record = map[string]string{"container_id": tag.FullID, "container_name": "/" + tag.Name}
		c.Fluentd = &f
	}
	if err := os.MkdirAll(logDir(ns, id), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	return os.WriteFile(filepath.Join(logDir(ns, id), "config.json"), b, 0o600)
}

// taskIO returns the IO creator that makes the shim run the log driver
// beside the container, so logs are written while no gocompose command
// runs; for a stdin_open container, heldIO's driver with a stdin.
func (r *Runtime) taskIO(id string, spec *oci.Spec) (cio.Creator, error) {
	if d := spec.Annotations[LogDriverAnnotation]; d != "" && d != "none" {
		if err := checkLogTarget(r.namespace, id); err != nil {
			return nil, err
		}
	}
	tty := spec.Process != nil && spec.Process.Terminal
	if o, ok := holdOptions(spec); ok {
		return heldIO(r.namespace, id, o), nil
	}
	exe, err := LoggerPath()
	if err != nil {
		return nil, err
	}
	args := map[string]string{LoggerArg: paths.Logs()}
	if tty {
		return cio.TerminalBinaryIO(exe, args), nil
	}
	return cio.BinaryIO(exe, args), nil
}

// checkLogTarget fails, as Docker's start does, when the container's
// syslog, journald or fluentd target cannot be reached.
func checkLogTarget(ns, id string) error {
	b, err := os.ReadFile(filepath.Join(logDir(ns, id), "config.json"))
	if err != nil {
		return nil // none written: json-file with no options
	}
	var c model.Log
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	var network, addr string
	switch {
	case c.Journald != nil:
		if !journal.Enabled() {
			return errors.New("failed to initialize logging driver: journald is not enabled on this host")
		}
		return nil
	case c.Fluentd != nil && !c.Fluentd.Async:
		network, addr = c.Fluentd.Network, c.Fluentd.Address
	case c.Syslog != nil && c.Syslog.Network != "udp":
		network, addr = c.Syslog.Network, c.Syslog.Address
	default:
		return nil
	}
	if network == "" {
		network, addr = "unixgram", "/dev/log"
	}
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("failed to initialize logging driver: %w", err)
	}
	return conn.Close()
}

// LoggerName is the small log driver binary's name; installed beside
// gocompose, it is what the shim runs per container.
const LoggerName = "gocompose-logger"

// LoggerPath is the log driver the shim runs: gocompose-logger beside this
// executable when it is there, else this executable itself (RunLogger).
func LoggerPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	small := filepath.Join(filepath.Dir(exe), LoggerName)
	if st, err := os.Stat(small); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return small, nil
	}
	return exe, nil
}

// RunLogger is the log driver's main when gocompose runs as the driver
// itself (no gocompose-logger installed beside it).
func RunLogger(logs string) { logdriver.Run(logs) }

// LogOptions select and shape what ReadLogs returns.
type LogOptions struct {
	Follow bool
	Tail   int // <0: all
	Since  time.Time
	Until  time.Time
	// Done reports that the container will write no more (it stopped); a
	// follower returns once it has read everything and Done is true.
	Done func() bool
}

// ErrLogsNotReadable is what ReadLogs returns for a container whose log
// driver keeps nothing (none); the words are Docker's.
var ErrLogsNotReadable = errors.New("configured logging driver does not support reading")

// ReadLogs sends the container's log entries to fn, oldest first.
func (r *Runtime) ReadLogs(ctx context.Context, id string, o LogOptions, fn func(LogEntry)) error {
	if b, err := os.ReadFile(filepath.Join(logDir(r.namespace, id), "config.json")); err == nil {
		var c model.Log
		if json.Unmarshal(b, &c) == nil && c.Driver == "none" {
			return ErrLogsNotReadable
		}
	}
	path := LogPath(r.namespace, id)
	var entries []LogEntry
	files := rotatedFiles(path)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			var e LogEntry
			if len(line) == 0 || json.Unmarshal(line, &e) != nil {
				continue
			}
			entries = append(entries, e)
		}
	}
	keep := func(e LogEntry) bool {
		return (o.Since.IsZero() || !e.Time.Before(o.Since)) && (o.Until.IsZero() || e.Time.Before(o.Until))
	}
	var sel []LogEntry
	for _, e := range entries {
		if keep(e) {
			sel = append(sel, e)
		}
	}
	if o.Tail >= 0 && len(sel) > o.Tail {
		sel = sel[len(sel)-o.Tail:]
	}
	for _, e := range sel {
		fn(e)
	}
	if !o.Follow {
		return nil
	}
	// Follow the current file from where the read above ended.
	var offset int64
	if st, err := os.Stat(path); err == nil {
		offset = st.Size()
	}
	return follow(ctx, path, offset, o, func(e LogEntry) {
		if keep(e) {
			fn(e)
		}
	})
}

func rotatedFiles(path string) []string {
	var files []string
	for i := 9; i >= 1; i-- {
		f := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	return append(files, path)
}

func follow(ctx context.Context, path string, offset int64, o LogOptions, fn func(LogEntry)) error {
	var partial []byte
	var ino uint64
	for {
		// Read Done before the file so that lines written just before the
		// container stopped are still read on this pass.
		done := o.Done != nil && o.Done()
		f, err := os.Open(path)
		if err == nil {
			st, _ := f.Stat()
			cur := inode(st)
			if ino != 0 && cur != ino || st.Size() < offset {
				offset = 0 // rotated or truncated
			}
			ino = cur
			if _, err := f.Seek(offset, io.SeekStart); err == nil {
				b, _ := io.ReadAll(f)
				offset += int64(len(b))
				partial = append(partial, b...)
				for {
					i := bytes.IndexByte(partial, '\n')
					if i < 0 {
						break
					}
					var e LogEntry
					if json.Unmarshal(partial[:i], &e) == nil {
						fn(e)
					}
					partial = partial[i+1:]
				}
			}
			f.Close()
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// shortDigest is a digest's first 12 hex digits, as Docker shortens IDs.
func shortDigest(d string) string {
	_, hex, _ := strings.Cut(d, ":")
	return hex[:min(12, len(hex))]
}
