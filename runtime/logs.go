package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/internal/paths"
	"github.com/gocompose/gocompose/logdriver"
	"github.com/gocompose/gocompose/model"
)

// LoggerArg is the first argument the containerd shim passes to the log
// driver (gocompose-logger, or gocompose itself).
const LoggerArg = logdriver.Arg

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
type LogEntry = logdriver.Entry

func logDir(ns, id string) string { return logDirIn(paths.Logs(), ns, id) }

func logDirIn(logs, ns, id string) string { return logdriver.Dir(logs, ns, id) }

// LogPath is the current json-file log of a container.
func LogPath(ns, id string) string { return filepath.Join(logDir(ns, id), "json.log") }

func writeLogConfig(ns, id string, c model.Log) error {
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
	tty := spec.Process != nil && spec.Process.Terminal
	if stdinOpen(spec) {
		return heldIO(r.namespace, id, tty), nil
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
