// Package display is the live progress display of `--progress tty` (auto in
// a terminal), drawn as Docker Compose v5 draws it: a header "[+] up N/M"
// (the operation's name), then one line per resource (network, volume, image, container) with a
// spinner while it works, its state and the time it took, redrawn in place
// every 100 ms and left on screen when done. Cursor movement goes through
// morikuni/aec, the library Docker Compose and BuildKit use.
package display

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/morikuni/aec"
)

// Statuses, as the events' classes.
const (
	Working = "Working"
	Done    = "Done"
	Warning = "Warning"
	Error   = "Error"
)

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

type task struct {
	id, status, text string
	start, end       time.Time
	// parent is the resource a child task (an image's layer) belongs to:
	// children draw no line, their progress shows on the parent's.
	parent         string
	current, total int64
}

// TTY draws the events on a terminal.
type TTY struct {
	op    string // the header's operation: up, down, pull…
	out   io.Writer
	width func() int
	now   func() time.Time

	mu       sync.Mutex
	ids      []string
	tasks    map[string]*task
	lines    int // drawn last time
	frame    int
	stopped  bool
	pauses   int // Pause calls not yet resumed (parallel builds)
	started  bool
	stop     chan struct{}
	finished chan struct{}
	color    bool
}

// NewTTY draws the progress of operation op (Docker Compose's name for it:
// up, down, pull…) on out, width columns wide (asked at each redraw).
func NewTTY(out io.Writer, op string, width func() int, color bool) *TTY {
	return &TTY{op: op, out: out, width: width, now: time.Now, tasks: map[string]*task{}, color: color,
		stop: make(chan struct{}), finished: make(chan struct{})}
}

// Start redraws every 100 ms until Done.
func (t *TTY) Start() {
	t.mu.Lock()
	t.started = true
	t.mu.Unlock()
	go func() {
		defer close(t.finished)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				t.mu.Lock()
				t.frame++
				if t.pauses == 0 {
					t.draw()
				}
				t.mu.Unlock()
			}
		}
	}()
}

// Event records a resource's state; after Done it is printed as a line.
func (t *TTY) Event(id, status, text string) {
	t.Progress("", id, status, text, 0, 0)
}

// Progress records the state of a resource that may be the child of
// another (parent: an image's layer, with the bytes done of total), as
// Docker Compose's events carry it. A child draws no line of its own but
// counts in the header, and while its parent works the parent's line
// shows a mark per child and the bytes of all of them.
func (t *TTY) Progress(parent, id, status, text string, current, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		if parent == "" {
			fmt.Fprintf(t.out, " %s %s %s\n", t.mark(status), id, text)
		}
		return
	}
	k, ok := t.tasks[id]
	if !ok {
		k = &task{id: id, start: t.now(), parent: parent}
		t.tasks[id] = k
		t.ids = append(t.ids, id)
	}
	if parent != "" {
		k.current, k.total = current, total
		if status != Working {
			k.current = k.total
		}
	}
	if status == Working && k.status != Working {
		k.start, k.end = t.now(), time.Time{}
	}
	if status != Working && k.end.IsZero() {
		k.end = t.now()
	}
	k.status, k.text = status, text
}

// Pause draws the current state and stops redrawing, so that other output
// (BuildKit's own display) can follow; Resume draws a fresh display below.
func (t *TTY) Pause() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped && t.pauses == 0 {
		t.draw()
	}
	t.pauses++
}

// Resume starts redrawing again, below what was printed meanwhile.
func (t *TTY) Resume() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pauses > 0 {
		t.pauses--
		if t.pauses == 0 {
			t.lines = 0
			// What finished is on screen already; the fresh display
			// shows what is still working and what comes next.
			t.ids = slices.DeleteFunc(t.ids, func(id string) bool {
				if t.tasks[id].status != Working {
					delete(t.tasks, id)
					return true
				}
				return false
			})
		}
	}
}

// Done draws the final state, which stays on screen, and stops redrawing.
func (t *TTY) Done() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	t.stopped = true
	t.draw()
	started := t.started
	t.mu.Unlock()
	close(t.stop)
	if started {
		<-t.finished
	}
}

func (t *TTY) mark(status string) string {
	var s string
	switch status {
	case Working:
		s = spinner[t.frame%len(spinner)]
	case Warning:
		s = "!"
	case Error:
		s = "✘"
	default:
		s = "✔"
	}
	if !t.color {
		return s
	}
	switch status {
	case Warning:
		return aec.YellowF.Apply(s)
	case Error:
		return aec.RedF.Apply(s)
	}
	return aec.GreenF.Apply(s)
}

// draw redraws every line in place: up to the first line, then each line
// padded to the width so what was longer before is cleared.
func (t *TTY) draw() {
	if len(t.ids) == 0 {
		return
	}
	width := t.width()
	if width <= 0 {
		width = 80
	}
	var b strings.Builder
	b.WriteString(aec.Hide.String())
	if t.lines > 0 {
		b.WriteString(aec.Up(uint(t.lines)).String())
	}
	b.WriteString(aec.Column(0).String())
	done := 0
	idWidth := 0
	var lines []string
	for _, id := range t.ids {
		if t.tasks[id].status != Working && t.tasks[id].status != "" {
			done++
		}
		if t.tasks[id].parent == "" {
			lines = append(lines, id)
			idWidth = max(idWidth, utf8.RuneCountInString(id)+utf8.RuneCountInString(t.childProgress(id)))
		}
	}
	b.WriteString(pad(fmt.Sprintf("[+] %s %d/%d", t.op, done, len(t.ids)), width) + "\n")
	for _, id := range lines {
		k := t.tasks[id]
		end := k.end
		if end.IsZero() {
			end = t.now()
		}
		timer := fmt.Sprintf("%.1fs", end.Sub(k.start).Seconds())
		// " ✔ " (three columns), the id and its children's progress
		// padded to the longest, the state.
		head := id + t.childProgress(id)
		body := head + strings.Repeat(" ", idWidth-utf8.RuneCountInString(head)) + " " + k.text
		room := width - 3 - utf8.RuneCountInString(body) - utf8.RuneCountInString(timer)
		if room < 1 {
			// Too narrow: the state is cut before the timer is.
			body = truncate(body, width-3-utf8.RuneCountInString(timer)-1)
			room = max(width-3-utf8.RuneCountInString(body)-utf8.RuneCountInString(timer), 1)
		}
		line := " " + t.mark(k.status) + " " + body + strings.Repeat(" ", room) + timer
		b.WriteString(line + "\n")
	}
	b.WriteString(aec.Show.String())
	t.lines = len(lines) + 1
	fmt.Fprint(t.out, b.String())
}

// percentChars are Docker Compose's marks of a child's completion.
var percentChars = []string{"⠀", "⡀", "⣀", "⣄", "⣤", "⣦", "⣶", "⣷", "⣿"}

// childProgress is what a working parent's line shows of its children, as
// Docker Compose draws it: " [⣿⣶⡀]" a mark per child by its completion,
// then the bytes done of the total when every working child knows its
// size; nothing once the parent is done.
func (t *TTY) childProgress(parent string) string {
	if t.tasks[parent].status != Working {
		return ""
	}
	var marks strings.Builder
	var current, total int64
	sizes := true
	for _, id := range t.ids {
		c := t.tasks[id]
		if c.parent != parent {
			continue
		}
		pct := 100
		if c.status == Working {
			pct = 0
			if c.total > 0 {
				pct = int(min(c.current*100/c.total, 100))
			} else {
				sizes = false
			}
		}
		marks.WriteString(percentChars[(len(percentChars)-1)*pct/100])
		current += c.current
		total += c.total
	}
	if marks.Len() == 0 {
		return ""
	}
	out := " [" + marks.String() + "]"
	if sizes && total > 0 {
		out += fmt.Sprintf(" %7s / %-7s", units.HumanSize(float64(current)), units.HumanSize(float64(total)))
	}
	return out
}

func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

func truncate(s string, n int) string {
	if n <= 1 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
