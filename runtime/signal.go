package runtime

import (
	"fmt"
	"syscall"

	"github.com/moby/sys/signal"
)

// ParseSignal accepts "SIGTERM", "TERM" or "15".
func ParseSignal(s string) (syscall.Signal, error) {
	sig, err := signal.ParseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("invalid signal %q: %w", s, err)
	}
	return sig, nil
}
