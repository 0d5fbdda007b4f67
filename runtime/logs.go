package runtime

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
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/model"
)

// LoggerArg is the first argument the containerd shim passes to gocompose
// when it runs it as the container's binary log driver.
const LoggerArg = "_gocompose_logger"

// LogConfigFrom reads logging.options max-size/max-file.
func LogConfigFrom(opts map[string]string) (model.Log, error) {
	var c model.Log
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

// LogEntry is one json-file line, in Docker's format.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func logDir(ns, id string) string { return logDirIn(paths.Logs(), ns, id) }

func logDirIn(logs, ns, id string) string { return filepath.Join(logs, ns, id) }

// LogPath is the current json-file log of a container.
func LogPath(ns, id string) string { return filepath.Join(logDir(ns, id), "json.log") }

func writeLogConfig(ns, id string, c model.Log) error {
	if err := os.MkdirAll(logDir(ns, id), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	return os.WriteFile(filepath.Join(logDir(ns, id), "config.json"), b, 0o600)
}

// taskIO returns the IO creator that makes the shim run gocompose itself as
// the log driver, so logs are written while no gocompose command runs.
func taskIO(tty bool) (cio.Creator, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := map[string]string{LoggerArg: paths.Logs()}
	if tty {
		return cio.TerminalBinaryIO(exe, args), nil
	}
	return cio.BinaryIO(exe, args), nil
}

// RunLogger is the log driver's main: the shim hands it the container's
// stdout and stderr; it writes json-file lines under logs (the directory
// given when the task was created) until both close.
func RunLogger(logs string) {
	logging.Run(func(_ context.Context, cfg *logging.Config, ready func() error) error {
		w, err := openLogWriter(logDirIn(logs, cfg.Namespace, cfg.ID))
		if err != nil {
			return err
		}
		defer w.close()
		if err := ready(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); w.copy("stdout", cfg.Stdout) }()
		go func() { defer wg.Done(); w.copy("stderr", cfg.Stderr) }()
		wg.Wait()
		return nil
	})
}

// logWriter appends json lines and rotates by size.
type logWriter struct {
	mu   sync.Mutex // guards f and size
	path string
	cfg  model.Log
	f    *os.File
	size int64
}

func openLogWriter(dir string) (*logWriter, error) {
	w := &logWriter{path: filepath.Join(dir, "json.log")}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		_ = json.Unmarshal(b, &w.cfg)
	}
	if err := os.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		return nil, err
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *logWriter) open() error {
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

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
	}
}

// maxLine is where long lines are split, as Docker does.
const maxLine = 16 * 1024

func (w *logWriter) copy(stream string, r io.Reader) {
	if r == nil {
		return
	}
	br := bufio.NewReaderSize(r, maxLine)
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

func (w *logWriter) write(stream string, line []byte) {
	b, err := json.Marshal(LogEntry{Log: string(line), Stream: stream, Time: time.Now().UTC()})
	if err != nil {
		return
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.MaxSize > 0 && w.size+int64(len(b)) > w.cfg.MaxSize && w.size > 0 {
		w.rotate()
	}
	n, _ := w.f.Write(b)
	w.size += int64(n)
}

// rotate shifts json.log -> json.log.1 -> ... keeping max_file files in all.
func (w *logWriter) rotate() {
	keep := w.cfg.MaxFile
	if keep < 1 {
		keep = 1
	}
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

// ReadLogs sends the container's log entries to fn, oldest first.
func (r *Runtime) ReadLogs(ctx context.Context, id string, o LogOptions, fn func(LogEntry)) error {
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
