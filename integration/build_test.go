package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/image-spec/identity"
)

// requiresBuildkit skips (fails under CI) without the buildkitd binary.
func requiresBuildkit(t *testing.T) {
	t.Helper()
	requires(t)
	if _, err := os.Stat(filepath.Join(filepath.Dir(bin), "buildkitd")); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("buildkitd missing under CI (make buildkitd)")
	}
	t.Skip("buildkitd not built: run make buildkitd")
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuildScratchLocalBaseArgsTargetIgnore(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bld", `
services:
  app:
    build:
      context: ./app
      target: final
      args:
        GREETING: from-compose
      labels:
        org.example.built-by: gocompose
  scratchy:
    build:
      context: ./app
      dockerfile_inline: |
        FROM scratch
        COPY busybox /bin/busybox
        CMD ["/bin/busybox", "echo", "scratch ok"]
`)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, filepath.Join(dir, "app"), map[string]string{
		"Dockerfile": `FROM busybox AS base
ARG GREETING=default
RUN echo "greeting=$GREETING" > /greeting
FROM base AS final
COPY . /ctx
CMD ["sh", "-c", "cat /greeting; ls /ctx"]
FROM base AS unused
RUN exit 1
`,
		"keep.txt":      "kept",
		"secret.txt":    "must not be sent",
		".dockerignore": "secret.txt\n",
	})
	if err := os.WriteFile(filepath.Join(dir, "app", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	r := gc(t, dir, "build", "--progress", "plain")
	if !strings.Contains(r.stderr, "Service app Built") || !strings.Contains(r.stderr, "Service scratchy Built") {
		t.Fatalf("build output:\n%s", r.stderr)
	}
	r = gc(t, dir, "run", "--rm", "-T", "app")
	if !strings.Contains(r.stdout, "greeting=from-compose") || !strings.Contains(r.stdout, "keep.txt") ||
		strings.Contains(r.stdout, "secret.txt") {
		t.Errorf("built app image:\n%s", r.stdout)
	}
	if r := gc(t, dir, "run", "--rm", "-T", "scratchy"); r.stdout != "scratch ok\n" {
		t.Errorf("scratch image: %s", r)
	}
	// A second build is served from cache.
	r = gc(t, dir, "build", "--progress", "plain", "app")
	if !strings.Contains(r.stderr, "CACHED") {
		t.Errorf("rebuild did not use the cache:\n%s", r.stderr)
	}
	gc(t, dir, "down")
}

func TestUpBuildRecreatesOnNewImageAndFailingBuildStartsNothing(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bldup", `
services:
  web:
    build: ./web
    command: ["sh", "-c", "cat /version; trap 'exit 0' TERM; sleep 100000 & wait"]
`)
	writeFiles(t, filepath.Join(dir, "web"), map[string]string{"Dockerfile": "FROM busybox\nRUN echo v1 > /version\n"})
	gc(t, dir, "up", "-d")
	if out := gc(t, dir, "exec", "-T", "web", "cat", "/version").stdout; out != "v1\n" {
		t.Fatalf("first image: %q", out)
	}
	// Nothing changed: up --build rebuilds from cache and keeps the container.
	r := gc(t, dir, "up", "-d", "--build")
	if strings.Contains(r.stderr, "Recreate") {
		t.Errorf("unchanged rebuild recreated:\n%s", r.stderr)
	}
	writeFiles(t, filepath.Join(dir, "web"), map[string]string{"Dockerfile": "FROM busybox\nRUN echo v2 > /version\n"})
	r = gc(t, dir, "up", "-d", "--build")
	if !strings.Contains(r.stderr, "Container bldup-web-1 Recreate") {
		t.Errorf("new image did not recreate:\n%s", r.stderr)
	}
	if out := gc(t, dir, "exec", "-T", "web", "cat", "/version").stdout; out != "v2\n" {
		t.Errorf("after up --build: %q", out)
	}
	gc(t, dir, "down", "--rmi", "local")

	bad := project(t, "bldbad", "services:\n  broken:\n    build: ./b\n  ok:\n    image: busybox\n    command: [\"true\"]\n")
	writeFiles(t, filepath.Join(bad, "b"), map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing step; exit 3\n"})
	r = gcRun(bad, nil, "up", "-d", "--build")
	if r.code == 0 {
		t.Fatalf("up --build with a failing RUN succeeded: %s", r)
	}
	for _, want := range []string{"exit 3", "exit code: 3", `"broken"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("failing build output lacks %q:\n%s", want, r.stderr)
		}
	}
	assertNothingLeft(t, "bldbad")
}

func TestBuildRejectsMissingBaseImageClearly(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bldmiss", "services:\n  x:\n    build:\n      context: .\n      dockerfile_inline: \"FROM localhost/not-loaded:1\\n\"\n")
	r := gcRun(dir, nil, "build")
	if r.code == 0 || !strings.Contains(r.stderr, "localhost/not-loaded:1") {
		t.Errorf("missing base image: %s", r)
	}
}

// build --check runs BuildKit's Dockerfile checks and builds nothing: a
// Dockerfile breaking three rules is reported rule by rule with the line,
// and exits 1; a clean one says so and exits 0.
func TestBuildCheck(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bldcheck", `
services:
  messy:
    image: gocompose-it/check-messy
    build:
      context: .
      dockerfile_inline: |
        FROM scratch as Base
        CMD echo hi
  clean:
    image: gocompose-it/check-clean
    build:
      context: .
      dockerfile_inline: |
        FROM scratch
        CMD ["/bin/true"]
`)
	r := gcRun(dir, nil, "build", "--check", "messy")
	if r.code != 1 || !strings.Contains(r.stdout, "Check complete, 3 warnings have been found!") {
		t.Fatalf("build --check of a messy Dockerfile: %s", r)
	}
	for _, rule := range []string{"WARNING: FromAsCasing", "WARNING: StageNameCasing", "WARNING: JSONArgsRecommended", "CMD echo hi"} {
		if !strings.Contains(r.stdout, rule) {
			t.Errorf("build --check report lacks %q:\n%s", rule, r.stdout)
		}
	}
	if r := gc(t, dir, "build", "--check", "clean"); !strings.Contains(r.stdout, "Check complete, no warnings found.") {
		t.Errorf("build --check of a clean Dockerfile: %s", r)
	}
	if r := gcRun(dir, nil, "images", "-q"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("build --check built images: %s", r)
	}
}

// Remote build contexts, fetched by BuildKit as Docker's builder fetches
// them: a git repository (served over http on 127.0.0.1 by the test, at a
// branch and a subdirectory) and a tarball URL.
func TestBuildRemoteContexts(t *testing.T) {
	requiresBuildkit(t)
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git missing under CI")
		}
		t.Skip("git not installed")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	serve := t.TempDir()
	work := filepath.Join(t.TempDir(), "src")
	writeFiles(t, work, map[string]string{
		"app/Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nCOPY message /message\nCMD [\"/bin/busybox\", \"cat\", \"/message\"]\n",
		"app/message":    "from git\n",
		"app/busybox":    string(bb),
	})
	if err := os.Chmod(filepath.Join(work, "app", "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "release")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "one")
	git(serve, "clone", "-q", "--bare", work, "repo.git")
	git(filepath.Join(serve, "repo.git"), "update-server-info") // git's dumb http protocol: plain files
	// The same files as a tarball.
	tarball := filepath.Join(serve, "ctx.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(work, "app"), "-cf", tarball, "Dockerfile", "busybox", "message").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(work, "app", "message"), []byte("from tar\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", filepath.Join(work, "app"), "-cf", tarball, "Dockerfile", "busybox", "message").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(serve)))
	defer srv.Close()
	dir := project(t, "bldremote", fmt.Sprintf(`
services:
  fromgit:
    image: gocompose-it/fromgit
    build: %s/repo.git#release:app
  fromtar:
    image: gocompose-it/fromtar
    build:
      context: %s/ctx.tar
`, srv.URL, srv.URL))
	gc(t, dir, "build")
	for svc, want := range map[string]string{"fromgit": "from git\n", "fromtar": "from tar\n"} {
		if out := gc(t, dir, "run", "--rm", "-T", svc).stdout; out != want {
			t.Errorf("%s runs to %q, want %q", svc, out, want)
		}
	}
}

// A rebuild that changes only the image's config (a label here, a CMD in
// practice) keeps the image's unpacked snapshot through containerd's
// garbage collection: the new config must hold the reference the old one
// held, or the next create fails with "parent snapshot … does not exist"
// (make demo did once).
func TestConfigOnlyRebuildKeepsTheSnapshot(t *testing.T) {
	requiresBuildkit(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	dir := project(t, "bldcfg", fmt.Sprintf("services:\n  app:\n    image: gocompose-it/bldcfg\n    build: ./app\n    command: %s\n", sleeper))
	dockerfile := "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nLABEL v=%d\n"
	writeFiles(t, filepath.Join(dir, "app"), map[string]string{"busybox": string(bb), "Dockerfile": fmt.Sprintf(dockerfile, 1)})
	if err := os.Chmod(filepath.Join(dir, "app", "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	gc(t, dir, "build")
	writeFiles(t, filepath.Join(dir, "app"), map[string]string{"Dockerfile": fmt.Sprintf(dockerfile, 2)})
	gc(t, dir, "build")

	c, err := containerd.New(address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	// A collection now, as containerd runs one on its own schedule.
	l, err := c.LeasesService().Create(ctx, leases.WithRandomID())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil {
		t.Fatal(err)
	}
	img, err := c.GetImage(ctx, "docker.io/gocompose-it/bldcfg:latest")
	if err != nil {
		t.Fatal(err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SnapshotService("overlayfs").Stat(ctx, identity.ChainID(diffIDs).String()); err != nil {
		t.Errorf("after a config-only rebuild and a garbage collection, the image's snapshot: %v", err)
	}
	gc(t, dir, "up", "-d")
	gc(t, dir, "down", "-t", "0")
}

// Several build platforms make one image index with a manifest each, as
// Docker's builder does; the host's manifest runs. A platform this host can
// neither run nor emulate gets a warning that its RUN steps would fail
// (this Dockerfile has none).
func TestBuildSeveralPlatforms(t *testing.T) {
	requiresBuildkit(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	host := startRegistry(t, newRegistry())
	dir := project(t, "bldplat", `services:
  app:
    image: `+host+`/it/bldplat:1
    build:
      context: ./app
      platforms: [linux/amd64, linux/arm64]
    command: ["/busybox", "echo", "runs here"]
`)
	writeFiles(t, filepath.Join(dir, "app"), map[string]string{"busybox": string(bb), "Dockerfile": "FROM scratch\nCOPY busybox /busybox\n"})
	if err := os.Chmod(filepath.Join(dir, "app", "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := gc(t, dir, "build")
	_, emulated := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	if warned := strings.Contains(r.stderr, "cannot run linux/arm64 programs"); warned != (emulated != nil) {
		t.Errorf("warning about linux/arm64 (emulated: %v):\n%s", emulated == nil, r.stderr)
	}
	c, err := containerd.New(address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	img, err := c.ImageService().Get(ctx, host+"/it/bldplat:1")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := images.Platforms(ctx, c.ContentStore(), img.Target)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.OS+"/"+p.Architecture)
	}
	slices.Sort(got)
	if !slices.Equal(slices.Compact(got), []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("the image's platforms: %v", got)
	}
	if out := gc(t, dir, "run", "--rm", "-T", "app").stdout; out != "runs here\n" {
		t.Errorf("the host's manifest runs: %q", out)
	}
	// push sends the whole index: both platforms' manifests.
	gc(t, dir, "push")
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/it/bldplat/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx struct {
		Manifests []struct {
			Digest   string
			Platform *struct{ OS, Architecture string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	var pushed []string
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS != "unknown" {
			pushed = append(pushed, m.Platform.OS+"/"+m.Platform.Architecture)
			if !manifestExists(t, host, "it/bldplat", m.Digest) {
				t.Errorf("the registry lacks the %s/%s manifest %s", m.Platform.OS, m.Platform.Architecture, m.Digest)
			}
		}
	}
	slices.Sort(pushed)
	if !slices.Equal(pushed, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("the pushed index's platforms: %v", pushed)
	}
}

// build.no_cache_filter builds the stages it names without the cache (as
// buildx's --no-cache-filter), the others from it.
func TestBuildNoCacheFilter(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "bldnocache", `services:
  app:
    build:
      dockerfile_inline: |
        FROM busybox AS base
        RUN head -c 8 /dev/urandom | od -An -tx1 > /base
        FROM base AS fresh
        RUN head -c 8 /dev/urandom | od -An -tx1 > /fresh
      no_cache_filter: [fresh]
    command: ["cat", "/base", "/fresh"]
`)
	gc(t, dir, "build")
	first := gc(t, dir, "run", "--rm", "-T", "app").stdout
	gc(t, dir, "build")
	second := gc(t, dir, "run", "--rm", "-T", "app").stdout
	f, s := strings.Split(first, "\n"), strings.Split(second, "\n")
	if len(f) < 2 || len(s) < 2 || f[0] != s[0] || f[1] == s[1] {
		t.Errorf("the base stage must come from the cache and fresh be built again:\nfirst  %q\nsecond %q", first, second)
	}
}

// Builds run in gocompose-build, beside gocompose: interrupting gocompose
// mid-build cancels the build and ends the helper with it, killing
// gocompose outright ends the helper too (nothing is left building), and a
// gocompose without the helper says what is missing.
func TestBuildRunsInItsHelper(t *testing.T) {
	requiresBuildkit(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	dir := project(t, "bldhelper", "services:\n  app:\n    image: gocompose-it/bldhelper\n    build: ./app\n")
	helper := filepath.Join(filepath.Dir(bin), "gocompose-build")
	// startBuild starts a build whose RUN step sleeps, and returns once
	// the step runs (its output, 42, is not in its command's text).
	startBuild := func() (*exec.Cmd, *lineWaiter) {
		t.Helper()
		writeFiles(t, filepath.Join(dir, "app"), map[string]string{"busybox": string(bb),
			"Dockerfile": fmt.Sprintf("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \": %d; echo step-$((6*7))-running; /bin/busybox sleep 120\"]\n", time.Now().UnixNano())})
		if err := os.Chmod(filepath.Join(dir, "app", "busybox"), 0o755); err != nil {
			t.Fatal(err)
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close() })
		cmd := gcCommand(dir, "--progress", "plain", "build")
		cmd.Stdout, cmd.Stderr = pw, pw
		err = cmd.Start()
		pw.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := &lineWaiter{}
		go out.read(pr)
		if !out.wait("step-42-running", 60*time.Second) {
			_ = cmd.Process.Kill()
			t.Fatalf("the RUN step did not start:\n%s", out.text())
		}
		if n := len(processesWith(helper)); n != 1 {
			t.Errorf("%d gocompose-build processes while building, want 1", n)
		}
		return cmd, out
	}
	helperGone := func(after string) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); len(processesWith(helper)) > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("gocompose-build still runs 15 s after %s: %v", after, processesWith(helper))
			}
		}
	}

	cmd, out := startBuild()
	start := time.Now()
	_ = cmd.Process.Signal(os.Interrupt) // gocompose only, not its process group
	err = cmd.Wait()
	if err == nil {
		t.Errorf("an interrupted build exited 0:\n%s", out.text())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("gocompose took %v to end after the interrupt", took)
	}
	if !out.wait("CANCELED", 5*time.Second) {
		t.Errorf("the interrupted build's step was not cancelled:\n%s", out.text())
	}
	helperGone("gocompose ended")

	// gocompose killed outright: the helper sees its stdin end and stops.
	cmd, _ = startBuild()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	helperGone("gocompose was killed")

	msg, err := withoutHelpers(t, dir, "build")
	if err == nil || !strings.Contains(string(msg), "gocompose-build not found beside gocompose or on PATH") {
		t.Errorf("build without gocompose-build: %v\n%s", err, msg)
	}
}

// withoutHelpers runs the suite's gocompose copied alone into a directory,
// none of its helpers there or on PATH, and returns what it printed.
func withoutHelpers(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	lone := filepath.Join(t.TempDir(), "gocompose")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(lone, args...)
	c.Dir = dir
	c.Env = append(suiteEnv(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	return c.CombinedOutput()
}
