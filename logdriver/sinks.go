package logdriver

import (
	"fmt"
	"log/syslog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/tinylib/msgp/msgp"
)

// Journald is the journald driver's settings (model.Journald, as written).
type Journald struct {
	Tag    string            `json:"tag"`
	Fields map[string]string `json:"fields,omitempty"`
}

// Fluentd is the fluentd driver's target (model.Fluentd, as written).
type Fluentd struct {
	Network string            `json:"network"`
	Address string            `json:"address"`
	Tag     string            `json:"tag"`
	Async   bool              `json:"async,omitempty"`
	Record  map[string]string `json:"record,omitempty"`
}

// sink is where a driver other than json-file sends each line, besides the
// json-file log that every driver keeps (Docker's dual logging cache).
type sink interface {
	// send takes one line without its newline; stream is stdout or stderr.
	send(stream, msg string, t time.Time)
	close()
}

// openSinks connects the configured drivers. gocompose checks a target
// before it starts the task (containerd 1.6's shim starts a container even
// when its driver failed), so one that fails here was lost since: the
// line still goes to the json-file log and the error to the shim's log.
func openSinks(cfg Rotation) []sink {
	var out []sink
	if s := cfg.Syslog; s != nil {
		w, err := syslog.Dial(s.Network, s.Address, syslog.Priority(s.Facility)|syslog.LOG_INFO, s.Tag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gocompose-logger: syslog:", err)
		} else {
			out = append(out, syslogSink{w})
		}
	}
	if j := cfg.Journald; j != nil {
		out = append(out, journaldSink{j.Fields})
	}
	if f := cfg.Fluentd; f != nil {
		out = append(out, newFluentd(f))
	}
	return out
}

// syslogSink sends stdout at info and stderr at error severity, as Docker.
type syslogSink struct{ w *syslog.Writer }

func (s syslogSink) send(stream, msg string, _ time.Time) {
	if stream == "stderr" {
		_ = s.w.Err(msg)
	} else {
		_ = s.w.Info(msg)
	}
}

func (s syslogSink) close() { s.w.Close() }

// journaldSink writes Docker's fields to the journal.
type journaldSink struct{ fields map[string]string }

func (s journaldSink) send(stream, msg string, _ time.Time) {
	pri := journal.PriInfo
	if stream == "stderr" {
		pri = journal.PriErr
	}
	_ = journal.Send(msg, pri, s.fields)
}

func (journaldSink) close() {}

// fluentdSink posts Docker's record (log, source, container_id,
// container_name) under the tag, in the forward protocol's message mode
// ([tag, time, record], msgpack-encoded with msgp, the encoder
// fluent-logger-golang uses; that package itself links crypto/tls, which
// costs every container's driver about 2 MiB more memory, measured). Sync
// (the default) writes each record before taking the next line; async
// queues them and connects in the background, as fluentd-async does.
type fluentdSink struct {
	cfg   *Fluentd
	mu    sync.Mutex // guards conn
	conn  net.Conn
	queue chan []byte // async only
	done  chan struct{}
}

func newFluentd(f *Fluentd) *fluentdSink {
	s := &fluentdSink{cfg: f}
	if f.Async {
		s.queue, s.done = make(chan []byte, 4096), make(chan struct{})
		go s.drain()
		return s
	}
	if err := s.connect(); err != nil {
		fmt.Fprintln(os.Stderr, "gocompose-logger: fluentd:", err)
	}
	return s
}

func (s *fluentdSink) connect() error {
	c, err := net.DialTimeout(s.cfg.Network, s.cfg.Address, 3*time.Second)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
	return nil
}

// post writes one message, connecting again once if the connection broke.
func (s *fluentdSink) post(b []byte) error {
	for try := 0; ; try++ {
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		if c == nil {
			if err := s.connect(); err != nil {
				return err
			}
			continue
		}
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(b); err == nil || try > 0 {
			return err
		}
		c.Close()
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}
}

func (s *fluentdSink) drain() {
	defer close(s.done)
	for b := range s.queue {
		for s.post(b) != nil {
			time.Sleep(time.Second) // fluentd not there yet: keep the record
		}
	}
}

func (s *fluentdSink) send(stream, msg string, t time.Time) {
	b := msgp.AppendArrayHeader(nil, 3)
	b = msgp.AppendString(b, s.cfg.Tag)
	b = msgp.AppendInt64(b, t.Unix())
	b = msgp.AppendMapHeader(b, uint32(len(s.cfg.Record)+2))
	for _, k := range slices.Sorted(maps.Keys(s.cfg.Record)) {
		b = msgp.AppendString(msgp.AppendString(b, k), s.cfg.Record[k])
	}
	b = msgp.AppendString(msgp.AppendString(b, "log"), msg)
	b = msgp.AppendString(msgp.AppendString(b, "source"), stream)
	if s.queue != nil {
		select {
		case s.queue <- b:
		default: // the buffer is full: drop, as a full fluentd-buffer-limit does
		}
		return
	}
	if err := s.post(b); err != nil {
		fmt.Fprintln(os.Stderr, "gocompose-logger: fluentd:", err)
	}
}

func (s *fluentdSink) close() {
	if s.queue != nil {
		close(s.queue)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
	}
}
