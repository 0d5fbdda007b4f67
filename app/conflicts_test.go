package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/spec"
)

// TestConflictsRefusedWithFileAndLine: what would collide on the host once
// made is refused first, naming the file, line, service and field.
func TestConflictsRefusedWithFileAndLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("s", 80)
	for _, tc := range []struct {
		name, yaml string
		scale      map[string]int
		want       string // "" for no error
	}{
		{"same port twice", `services:
  a:
    image: busybox
    ports: ["8080:80"]
  b:
    image: busybox
    ports:
      - "127.0.0.1:8080:80"
`, nil, "compose.yaml:8: services.b.ports.0: service b: host port 8080/tcp is already published by service a"},
		{"other protocol and address are free", `services:
  a:
    image: busybox
    ports: ["127.0.0.1:8080:80", "8081:80/udp"]
  b:
    image: busybox
    ports: ["127.0.0.2:8080:80", "8081:80/tcp"]
`, nil, ""},
		{"port out of range", `services:
  a:
    image: busybox
    ports:
      - target: 80
        published: "70000"
`, nil, "compose.yaml:5: services.a.ports.0: service a: published port \"70000\" is not a port number (1-65535)"},
		{"replicas on one host port", `services:
  a:
    image: busybox
    ports: ["8080:80"]
`, map[string]int{"a": 2}, "service a: host port 8080/tcp cannot be published by 2 replicas"},
		{"container_name twice", `services:
  a:
    image: busybox
    container_name: shared
  b:
    image: busybox
    container_name: shared
`, nil, "compose.yaml:7: services.b.container_name: container name \"shared\" is already used by service a"},
		{"name too long", "services:\n  " + long + ":\n    image: busybox\n", nil,
			"compose.yaml:2: services." + long + ": service " + long + ": container name \"p-" + long + "-1\" is 84 characters long; containerd allows at most 76"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := spec.Load(t.Context(), spec.Options{Files: []string{file}, ProjectName: "p"})
			if err != nil {
				t.Fatal(err)
			}
			err = checkConflicts(p, p, tc.scale)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(strings.TrimPrefix(err.Error(), dir+"/"), tc.want)):
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
