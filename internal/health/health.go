// Package health holds the healthcheck configuration a container carries in
// its labels and the state the supervisor keeps for it in a file, so that any
// command can read a container's health without asking the supervisor.
package health

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// Statuses, as Docker names them.
const (
	Starting  = "starting"
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// Label is the container label holding the Config as JSON.
const Label = "gocompose.healthcheck"

// Config is a resolved healthcheck.
type Config struct {
	Test          []string      `json:"test"` // argv to exec
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	StartPeriod   time.Duration `json:"start_period"`
	StartInterval time.Duration `json:"start_interval"`
	Retries       int           `json:"retries"`
}

// WithDefaults fills Docker's defaults: 30s interval and timeout, 5s start
// interval, 3 retries.
func (c Config) WithDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.StartInterval <= 0 {
		c.StartInterval = 5 * time.Second
	}
	if c.Retries <= 0 {
		c.Retries = 3
	}
	return c
}

// Result is one probe.
type Result struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// State is Docker's health object.
type State struct {
	Status        string   `json:"Status"`
	FailingStreak int      `json:"FailingStreak"`
	Log           []Result `json:"Log"`
	// StartedAt is the task start the state belongs to; a new start resets it.
	StartedAt time.Time `json:"StartedAt"`
}

// Path is where the state of a container lives under the state directory.
func Path(state, namespace, id string) string {
	return filepath.Join(state, "health", namespace, id+".json")
}

// Read returns the state, or ok=false when there is none.
func Read(state, namespace, id string) (State, bool) {
	b, err := os.ReadFile(Path(state, namespace, id))
	if err != nil {
		return State{}, false
	}
	var s State
	if json.Unmarshal(b, &s) != nil {
		return State{}, false
	}
	return s, true
}

// Write replaces the state atomically.
func Write(state, namespace, id string, s State) error {
	p := Path(state, namespace, id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Remove deletes the state file.
func Remove(state, namespace, id string) {
	_ = os.Remove(Path(state, namespace, id))
}
