package bridge

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// PushedName is the name an image gets in registry (host[:port][/path]):
// its repository path and tag under the registry, whatever registry it
// named before ("seed-frontend" → "REGISTRY/seed-frontend:latest").
func PushedName(registry, image string) (string, error) {
	registry = strings.TrimSuffix(registry, "/")
	if registry == "" || strings.Contains(registry, "://") {
		return "", fmt.Errorf("registry %q: want HOST[:PORT][/PATH]", registry)
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	path := reference.Path(named)
	if reference.Domain(named) == "docker.io" {
		path = strings.TrimPrefix(path, "library/")
	}
	out := registry + "/" + path
	if d, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("image %q: a digest cannot be pushed under a new name (%s)", image, d.Digest())
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return out + ":" + tag, nil
}
