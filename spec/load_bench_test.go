package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoadLarge loads a 200-service file with interpolation.
func BenchmarkLoadLarge(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("services:\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sb, "  s%d:\n    image: busybox:${TAG:-1}\n    command: [sh, -c, \"echo %d\"]\n    environment:\n      A: \"${A:-x}\"\n", i, i)
		if i > 0 {
			fmt.Fprintf(&sb, "    depends_on: [s%d]\n", i-1)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Load(b.Context(), Options{ProjectDirectory: dir}); err != nil {
			b.Fatal(err)
		}
	}
}
