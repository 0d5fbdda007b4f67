package spec

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/docker/cli/pkg/kvfile"
)

var registerRaw sync.Once

// registerFormats teaches compose-go the env_file formats Docker Compose
// adds: `format: raw`, read as `docker run --env-file` reads a file (no
// interpolation, no quote handling; a bare NAME takes its value from the
// environment).
func registerFormats() {
	registerRaw.Do(func() { dotenv.RegisterFormat("raw", rawEnv) })
}

func rawEnv(r io.Reader, filename string, vars map[string]string, lookup func(key string) (string, bool)) error {
	lines, err := kvfile.ParseFromReader(r, lookup)
	if err != nil {
		return fmt.Errorf("env_file %s: %w", filename, err)
	}
	for _, line := range lines {
		key, value, _ := strings.Cut(line, "=")
		vars[key] = value
	}
	return nil
}
