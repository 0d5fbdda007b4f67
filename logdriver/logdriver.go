// Package logdriver is the log driver the containerd shim runs beside each
// container: it receives the container's stdout and stderr and appends them
// as Docker's json-file lines, rotated by size, so logs are written while no
// gocompose command runs. It imports containerd's logging package and the
// standard library only, so the gocompose-logger binary built from it stays
// a few MiB, where gocompose itself would cost each container ~30 MiB of
// memory and a full program start.
package logdriver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
)

// Arg is the first argument the shim passes to the driver, followed by the
// directory logs live under.
const Arg = "_gocompose_logger"

// Entry is one json-file line, in Docker's format.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Rotation is a container's config.json beside its log: max_size bytes
// (0: unlimited) and max_file files kept, the current one included.
type Rotation struct {
	MaxSize int64 `json:"max_size,omitempty"`
	MaxFile int   `json:"max_file,omitempty"`
	// Syslog, Journald and Fluentd, when set, are where every line is
	// sent as well.
	Syslog   *Syslog   `json:"syslog,omitempty"`
	Journald *Journald `json:"journald,omitempty"`
	Fluentd  *Fluentd  `json:"fluentd,omitempty"`
}

// Syslog is the syslog driver's target (model.Syslog, as written).
type Syslog struct {
	Network  string `json:"network,omitempty"`
	Address  string `json:"address,omitempty"`
	Facility int    `json:"facility"`
	Tag      string `json:"tag"`
}

// Dir is where a container's log files live.
func Dir(logs, namespace, id string) string { return filepath.Join(logs, namespace, id) }

// MaxLine is where long lines are split, as Docker does.
const MaxLine = 16 * 1024

// Run is the driver's main: the shim hands it the container's stdout and
// stderr; it writes under logs until both close.
func Run(logs string) {
	logging.Run(func(_ context.Context, cfg *logging.Config, ready func() error) error {
		w, err := Open(Dir(logs, cfg.Namespace, cfg.ID))
		if err != nil {
			return err
		}
		defer w.Close()
		if err := ready(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); w.Copy("stdout", cfg.Stdout) }()
		go func() { defer wg.Done(); w.Copy("stderr", cfg.Stderr) }()
		wg.Wait()
		return nil
	})
}

// Writer appends json lines to dir/json.log and rotates by size.
type Writer struct {
	mu    sync.Mutex // guards f and size
	path  string
	cfg   Rotation
	f     *os.File
	size  int64
	sinks []sink
}

// Open starts writing a container's log in dir, with the rotation its
// config.json asks for.
func Open(dir string) (*Writer, error) {
	w := &Writer{path: filepath.Join(dir, "json.log")}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		_ = json.Unmarshal(b, &w.cfg)
	}
	if err := os.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		return nil, err
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	w.sinks = openSinks(w.cfg)
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Close closes the current file.
func (w *Writer) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
	}
	for _, s := range w.sinks {
		s.close()
	}
}

// Copy writes what r yields as stream's lines until it ends.
func (w *Writer) Copy(stream string, r io.Reader) {
	if r == nil {
		return
	}
	br := bufio.NewReaderSize(r, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.write(stream, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (w *Writer) write(stream string, line []byte) {
	now := time.Now().UTC()
	b, err := json.Marshal(Entry{Log: string(line), Stream: stream, Time: now})
	if err != nil {
		return
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.sinks) > 0 {
		msg := string(bytes.TrimSuffix(line, []byte{'\n'}))
		for _, s := range w.sinks {
			s.send(stream, msg, now)
		}
	}
	if w.cfg.MaxSize > 0 && w.size+int64(len(b)) > w.cfg.MaxSize && w.size > 0 {
		w.rotate()
	}
	n, _ := w.f.Write(b)
	w.size += int64(n)
}

// rotate shifts json.log -> json.log.1 -> ... keeping max_file files in all.
func (w *Writer) rotate() {
	keep := max(w.cfg.MaxFile, 1)
	w.f.Close()
	if keep == 1 {
		_ = os.Truncate(w.path, 0)
	} else {
		_ = os.Remove(fmt.Sprintf("%s.%d", w.path, keep-1))
		for i := keep - 2; i >= 1; i-- {
			_ = os.Rename(fmt.Sprintf("%s.%d", w.path, i), fmt.Sprintf("%s.%d", w.path, i+1))
		}
		_ = os.Rename(w.path, w.path+".1")
	}
	if err := w.open(); err != nil {
		// keep writing somewhere rather than crash the driver
		w.f, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
}
