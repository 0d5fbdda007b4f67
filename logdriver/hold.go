package logdriver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// HoldArg is the first argument of the driver's second mode, for
// containers whose stdin stays open (stdin_open): gocompose runs it itself
// (not through the shim, whose log driver protocol has no stdin) with the
// logs directory, the container's stdio directory, namespace, id and "tty"
// or "". It reads the container's output from FIFOs in the stdio directory
// into the json log, holds the stdin FIFO open for the container's life,
// and serves attach clients on a unix socket there: what they send goes to
// the container's stdin, and they receive its output as it comes, framed
// as Docker's attach stream is (see Frame).
const HoldArg = "_gocompose_stdio"

// The files of a stdio directory.
const (
	StdinFile  = "stdin"
	StdoutFile = "stdout"
	StderrFile = "stderr"
	SocketFile = "attach.sock"
	// ReplayFile is the socket for followers of a container whose driver
	// keeps no log (none): they get the output since the start (up to
	// ReplayLimit bytes, in memory only), then the rest as it comes.
	ReplayFile = "replay.sock"
)

// ReplayLimit bounds the output kept for replay.
const ReplayLimit = 1 << 20

// HoldOptions say what the holder does.
type HoldOptions struct {
	TTY   bool // one output stream (a terminal's)
	Stdin bool // hold the container's stdin FIFO open (stdin_open)
	// NoLog: the none driver: nothing is written to disk; output is
	// streamed and kept in memory for replay.
	NoLog bool
}

// ParseHoldMode reads the mode argument: tty, stdin, nolog joined by ','.
func ParseHoldMode(mode string) HoldOptions {
	var o HoldOptions
	for _, m := range strings.Split(mode, ",") {
		switch m {
		case "tty":
			o.TTY = true
		case "stdin":
			o.Stdin = true
		case "nolog":
			o.NoLog = true
		}
	}
	return o
}

// String is the mode argument for o.
func (o HoldOptions) String() string {
	var m []string
	for _, f := range []struct {
		on   bool
		name string
	}{{o.TTY, "tty"}, {o.Stdin, "stdin"}, {o.NoLog, "nolog"}} {
		if f.on {
			m = append(m, f.name)
		}
	}
	return strings.Join(m, ",")
}

// Stream numbers in a frame's header, as in Docker's attach stream.
const (
	Stdout byte = 1
	Stderr byte = 2
)

// FrameHeader is the size of a frame's header: the stream, three zero
// bytes and the payload's length (big endian).
const FrameHeader = 8

// Frame prefixes p with its header.
func Frame(stream byte, p []byte) []byte {
	b := make([]byte, FrameHeader+len(p))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:FrameHeader], uint32(len(p)))
	copy(b[FrameHeader:], p)
	return b
}

// ReadFrame reads one frame, returning its stream and payload.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var h [FrameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(h[4:]))
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return h[0], p, nil
}

// HoldMain runs Hold from the command line after HoldArg and exits.
func HoldMain(args []string) {
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "gocompose-logger: want LOGS DIR NAMESPACE ID MODE")
		os.Exit(2)
	}
	if err := Hold(args[0], args[1], args[2], args[3], ParseHoldMode(args[4]), os.NewFile(3, "ready")); err != nil {
		fmt.Fprintln(os.Stderr, "gocompose-logger:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// connectTimeout bounds how long the driver waits for the shim to open the
// output FIFOs: a task that failed to be created never does.
const connectTimeout = time.Minute

// Hold is the second mode's main; ready (fd 3 when run by gocompose) gets
// one byte once the container's output is connected.
func Hold(logs, dir, namespace, id string, o HoldOptions, ready *os.File) error {
	var w *Writer
	if !o.NoLog {
		var err error
		if w, err = Open(Dir(logs, namespace, id)); err != nil {
			return err
		}
		defer w.Close()
	}
	var stdin io.Writer = io.Discard
	if o.Stdin {
		// Held read-write: the container's stdin never reaches its end
		// while the driver lives, whoever comes and goes on the socket.
		f, err := os.OpenFile(filepath.Join(dir, StdinFile), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		stdin = f
	}
	h := &holder{clients: map[net.Conn]chan []byte{}}
	listen := func(name string) (*net.UnixListener, error) {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, name), Net: "unix"})
		if err != nil {
			return nil, err
		}
		// The socket stays: a later driver for the same container may
		// have made the directory again, and gocompose clears it before
		// each start.
		l.SetUnlinkOnClose(false)
		return l, nil
	}
	l, err := listen(SocketFile)
	if err != nil {
		return err
	}
	defer l.Close()
	go h.serve(l, stdin, false)
	if o.NoLog {
		h.replay = []byte{}
		rl, err := listen(ReplayFile)
		if err != nil {
			return err
		}
		defer rl.Close()
		go h.serve(rl, io.Discard, true)
	}

	streams := []struct {
		file string
		num  byte
	}{{StdoutFile, Stdout}}
	if !o.TTY {
		streams = append(streams, struct {
			file string
			num  byte
		}{StderrFile, Stderr})
	}
	opened := make(chan *os.File, len(streams))
	for _, s := range streams {
		go func() {
			f, err := os.OpenFile(filepath.Join(dir, s.file), os.O_RDONLY, 0)
			if err != nil {
				f = nil
			}
			opened <- f
		}()
	}
	files := make([]*os.File, len(streams))
	timeout := time.After(connectTimeout)
	for i := range streams {
		select {
		case f := <-opened:
			if f == nil {
				return fmt.Errorf("open the container's output in %s", dir)
			}
			files[i] = f
		case <-timeout:
			return fmt.Errorf("the container's output in %s was not opened within %s", dir, connectTimeout)
		}
	}
	// The opens finish in any order; the names say which stream is which.
	byName := map[string]*os.File{}
	for _, f := range files {
		byName[filepath.Base(f.Name())] = f
	}
	if ready != nil {
		_, _ = ready.Write([]byte{0})
		ready.Close()
	}
	var wg sync.WaitGroup
	for _, s := range streams {
		f := byName[s.file]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			h.copy(w, s.num, f)
		}()
	}
	wg.Wait()
	h.closeAll()
	if o.NoLog {
		// Nothing else keeps the output: stay a while for followers
		// that come after a short-lived container ended (attached up
		// follows once every container started), until the directory
		// goes (rm, down) or is made again (the next start).
		linger(dir, time.Now().Add(lingerAfterEnd))
	}
	return nil
}

// lingerAfterEnd is how long a none driver's output stays to be replayed.
const lingerAfterEnd = time.Minute

func linger(dir string, until time.Time) {
	st, err := os.Stat(dir)
	if err != nil {
		return
	}
	for time.Now().Before(until) {
		time.Sleep(200 * time.Millisecond)
		cur, err := os.Stat(dir)
		if err != nil || !os.SameFile(st, cur) {
			return
		}
	}
}

// holder fans the container's output out to attach clients.
type holder struct {
	mu      sync.Mutex // guards clients and replay
	clients map[net.Conn]chan []byte
	// replay, for the none driver, is the output so far (frames), for
	// followers that come after it was written; nil otherwise.
	replay []byte
	ended  bool // the output ended: new clients get the replay and EOF
}

// serve accepts attach clients: their input goes to stdin, output frames
// to them through a buffered queue, so a slow client cannot stall the
// container (one that falls 256 frames behind is dropped).
func (h *holder) serve(l net.Listener, stdin io.Writer, replay bool) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		q := make(chan []byte, 256)
		h.mu.Lock()
		if replay && len(h.replay) > 0 {
			q <- slices.Clone(h.replay)
		}
		if h.ended {
			close(q)
		} else {
			h.clients[c] = q
		}
		h.mu.Unlock()
		go func() {
			for b := range q {
				if _, err := c.Write(b); err != nil {
					break
				}
			}
			c.Close()
		}()
		go func() {
			_, _ = io.Copy(stdin, c)
			// The client's input ended (or it left): its output stays
			// until it closes the connection.
		}()
	}
}

func (h *holder) broadcast(frame []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.replay != nil {
		h.replay = append(h.replay, frame...)
		// Keep the last ReplayLimit bytes, cut at a frame's start.
		for len(h.replay) > ReplayLimit {
			n := FrameHeader + int(binary.BigEndian.Uint32(h.replay[4:FrameHeader]))
			h.replay = h.replay[n:]
		}
	}
	for c, q := range h.clients {
		select {
		case q <- frame:
		default:
			delete(h.clients, c)
			close(q)
		}
	}
}

func (h *holder) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = true
	for c, q := range h.clients {
		delete(h.clients, c)
		close(q)
	}
}

// copy sends r's output to clients as it comes and to the log by lines.
func (h *holder) copy(w *Writer, stream byte, r io.Reader) {
	name := "stdout"
	if stream == Stderr {
		name = "stderr"
	}
	lines := &Lines{Emit: func(line []byte) {
		if w != nil {
			w.write(name, line)
		}
	}}
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.broadcast(Frame(stream, buf[:n]))
			_, _ = lines.Write(buf[:n])
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(os.Stderr, "gocompose-logger:", err)
			}
			lines.Flush()
			return
		}
	}
}

// Lines cuts a stream into log lines as Copy does: at each newline, and
// every MaxLine bytes of a longer line; Emit gets each (its buffer is
// reused: copy what is kept).
type Lines struct {
	Emit func([]byte)
	buf  []byte
}

// Write takes the next bytes of the stream.
func (s *Lines) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := 0
		for i < len(s.buf) && i < MaxLine && s.buf[i] != '\n' {
			i++
		}
		switch {
		case i < len(s.buf) && s.buf[i] == '\n':
			s.Emit(s.buf[:i+1])
			s.buf = s.buf[i+1:]
		case i == MaxLine:
			s.Emit(s.buf[:MaxLine])
			s.buf = s.buf[MaxLine:]
		default:
			s.buf = append([]byte(nil), s.buf...)
			return len(p), nil
		}
	}
}

// Flush emits what is left of an unfinished line.
func (s *Lines) Flush() {
	if len(s.buf) > 0 {
		s.Emit(s.buf)
		s.buf = nil
	}
}
