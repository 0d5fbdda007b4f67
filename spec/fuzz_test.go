package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads any compose file through compose-go, the support check and
// the error locator: an error is fine, a panic is not.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"services:\n  web:\n    image: busybox\n",
		"services:\n  web:\n    image: busybox\n    ports: [\"8080:80\", \"70000:80\"]\n    volumes: [\"data:/data:ro\", \"./x:/x\"]\nvolumes:\n  data: {}\n",
		"services:\n  a:\n    image: busybox\n    depends_on:\n      b: {condition: service_healthy, restart: true}\n  b:\n    image: busybox\n    healthcheck: {test: [CMD, 'true']}\n",
		"services:\n  web:\n    build: {context: ., ssh: [default]}\n    develop: {watch: [{action: sync, path: ., target: /app}]}\n",
		"x-a: &a {image: busybox}\nservices:\n  web: *a\n  db:\n    <<: *a\n    stdin_open: true\n",
		"services:\n  web:\n    image: ${IMAGE:?missing}\n",
		"networks:\n  n:\n    ipam: {config: [{subnet: 10.1.0.0/24}]}\nservices:\n  w: {image: busybox, networks: {n: {ipv4_address: 10.1.0.9}}}\n",
		": : :\n\t- [",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, yaml string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Load(t.Context(), Options{Files: []string{file}, ProjectName: "fuzz"})
	})
}
