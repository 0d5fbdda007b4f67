package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"golang.org/x/crypto/ssh/agent"
)

// build.secrets reach RUN --mount=type=secret (file and environment
// secrets, by target), and build.ssh forwards an agent to RUN
// --mount=type=ssh; neither ends up in the image.
func TestBuildSecretsAndSSH(t *testing.T) {
	requiresBuildkit(t)
	// An SSH agent holding one key, on a socket of the test's.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key, Comment: "gocompose-test"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	dir := project(t, "bsecret", fmt.Sprintf(`
services:
  app:
    build:
      dockerfile_inline: |
        FROM busybox
        RUN --mount=type=secret,id=token test "$$(cat /run/secrets/token)" = s3cret
        RUN --mount=type=secret,id=api_key test "$$(cat /run/secrets/api_key)" = from-env
        RUN --mount=type=ssh test -S "$$SSH_AUTH_SOCK" && echo agent-forwarded > /ssh-ok
      secrets:
        - token
        - source: key
          target: api_key
      ssh:
        - default=%s
    command: ["sh", "-c", "cat /ssh-ok; ls /run/secrets 2>&1"]
secrets:
  token: {file: ./token.txt}
  key: {environment: BUILD_KEY}
`, sock))
	if err := os.WriteFile(filepath.Join(dir, "token.txt"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := gcRun(dir, []string{"BUILD_KEY=from-env"}, "build")
	if r.code != 0 {
		t.Fatalf("build with secrets and ssh: %s", r)
	}
	out := gcRun(dir, []string{"BUILD_KEY=from-env"}, "run", "--rm", "-T", "app")
	if !strings.Contains(out.stdout, "agent-forwarded") || !strings.Contains(out.stdout, "No such file") {
		t.Errorf("the image: %s", out)
	}
	// A wrong secret fails the build (secrets are not part of BuildKit's
	// cache keys, as with Docker: --no-cache runs the steps again).
	if err := os.WriteFile(filepath.Join(dir, "token.txt"), []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := gcRun(dir, []string{"BUILD_KEY=from-env"}, "build", "--no-cache"); r.code == 0 {
		t.Errorf("a build whose secret check must fail passed: %s", r)
	}
}

// build --provenance attaches BuildKit's provenance attestation: the image
// becomes an index holding an attestation manifest beside the image, and
// still runs; --sbom is refused (its scanner image would be pulled).
func TestBuildProvenance(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bprov", "services:\n  app:\n    build:\n      dockerfile_inline: \"FROM busybox\\nRUN echo p > /p\\n\"\n    command: [cat, /p]\n")
	gc(t, dir, "build", "--provenance", "mode=min")
	c, err := containerd.New(address(), containerd.WithDefaultNamespace(namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	img, err := c.ImageService().Get(ctx, "docker.io/library/bprov-app:latest")
	if err != nil {
		t.Fatal(err)
	}
	if !images.IsIndexType(img.Target.MediaType) {
		t.Fatalf("image target %s, want an index", img.Target.MediaType)
	}
	b, err := content.ReadBlob(ctx, c.ContentStore(), img.Target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "attestation-manifest") {
		t.Errorf("no attestation manifest in the index:\n%s", b)
	}
	if out := gc(t, dir, "run", "--rm", "-T", "app").stdout; out != "p\n" {
		t.Errorf("the attested image runs: %q", out)
	}
	if r := gcRun(dir, nil, "build", "--sbom", "true"); r.code == 0 || !strings.Contains(r.stderr, "scanner image") {
		t.Errorf("build --sbom: %s", r)
	}
}

// build.privileged grants the build BuildKit's security.insecure
// entitlement, as Docker Compose asks bake for it: RUN --security=insecure
// runs with every capability; a build that does not ask is refused it.
func TestBuildPrivileged(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bpriv", `
services:
  priv:
    build:
      privileged: true
      dockerfile_inline: |
        FROM busybox
        RUN --security=insecure mkdir -p /m && mount -t tmpfs none /m && grep CapEff /proc/self/status > /caps
    command: ["cat", "/caps"]
  plain:
    build:
      dockerfile_inline: |
        FROM busybox
        RUN --security=insecure mkdir -p /m && mount -t tmpfs none /m
`)
	if r := gcRun(dir, nil, "build", "priv"); r.code != 0 {
		t.Fatalf("privileged build: %s", r)
	}
	// The mount worked, and CAP_SYS_ADMIN (bit 21), which Docker's default
	// capabilities leave out, was in the step's effective set.
	out := gc(t, dir, "run", "--rm", "-T", "priv").stdout
	caps, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(out, "CapEff:")), 16, 64)
	if err != nil || caps&(1<<21) == 0 {
		t.Errorf("the privileged step's capabilities: %q", out)
	}
	if r := gcRun(dir, nil, "build", "plain"); r.code == 0 || !strings.Contains(r.stderr, "security.insecure") {
		t.Errorf("RUN --security=insecure without build.privileged: %s", r)
	}
}
