package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry serves h (an in-process OCI registry, possibly wrapped) on
// 127.0.0.1 and returns its host:port.
func startRegistry(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newRegistry() http.Handler { return registry.New(registry.Logger(log.New(io.Discard, "", 0))) }

// basicAuth demands user:pass on every request, as a registry behind
// htpasswd does.
func basicAuth(h http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="gocompose-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// dockerConfig writes a DOCKER_CONFIG directory holding a credential for host.
func dockerConfig(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func manifestExists(t *testing.T, host, repo, tag string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pushTestImage builds an image named host/it/app:1 with one file in a
// layer of its own and pushes it with `gocompose push`.
func pushTestImage(t *testing.T, host string, env []string) {
	t.Helper()
	img := host + "/it/app:1"
	dir := project(t, "pusher", `services:
  app:
    image: `+img+`
    build:
      dockerfile_inline: |
        FROM busybox
        RUN echo pushed-content > /pushed.txt && head -c 400000 /dev/urandom > /noise.bin
  plain:
    image: busybox
`)
	gc(t, dir, "build")
	r := gcRun(dir, env, "push")
	if r.code != 0 {
		t.Fatalf("push: %s", r)
	}
	if !strings.Contains(r.stderr, " "+img+" Pushing \n") || !strings.Contains(r.stderr, " "+img+" Pushed \n") || !strings.Contains(r.stderr, " plain Skipped \n") {
		t.Errorf("push progress: %s", r.stderr)
	}
	gc(t, dir, "image", "rm", img)
	// The build cache holds the layers too; without it the next pull has
	// to fetch them.
	gc(t, dir, "builder", "prune", "-a")
}

// A built image pushed to a registry comes back with pull and with up
// (pull_policy missing), and runs.
func TestPushPullRoundTrip(t *testing.T) {
	requires(t)
	host := startRegistry(t, newRegistry())
	pushTestImage(t, host, nil)
	if !manifestExists(t, host, "it/app", "1") {
		t.Fatal("the registry has no it/app:1 after push")
	}
	img := host + "/it/app:1"
	dir := project(t, "puller", "services:\n  app:\n    image: "+img+"\n    command: sleep 300\n")
	// Docker Compose v5's progress: the image, then each layer by its
	// short digest with its bytes so far.
	r := gc(t, dir, "pull")
	for _, re := range []string{`(?m)^ Image ` + regexp.QuoteMeta(img) + ` Pulling $`, `(?m)^ [0-9a-f]{12} Pulling fs layer 0B$`,
		`(?m)^ [0-9a-f]{12} Download complete [0-9.]+[kM]?B$`, `(?m)^ [0-9a-f]{12} Pull complete [0-9.]+[kM]?B$`, `(?m)^ Image ` + regexp.QuoteMeta(img) + ` Pulled $`} {
		if !regexp.MustCompile(re).MatchString(r.stderr) {
			t.Errorf("pull progress lacks %s:\n%s", re, r.stderr)
		}
	}
	// --progress json: the layers' events name the image as their parent,
	// with their size.
	gc(t, dir, "image", "rm", img)
	r = gc(t, dir, "--progress", "json", "pull")
	layers := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var ev struct {
			ID       string `json:"id"`
			ParentID string `json:"parent_id"`
			Status   string `json:"status"`
			Text     string `json:"text"`
			Total    int64  `json:"total"`
			Percent  int    `json:"percent"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if ev.Text == "Pull complete" && ev.ParentID == "Image "+img && ev.Status == "Done" && ev.Total > 0 && ev.Percent == 100 {
			layers++
		}
	}
	if layers == 0 {
		t.Errorf("no layer's Pull complete event with its parent and size:\n%s", r.stderr)
	}
	// Pulled again, the layers already exist.
	gc(t, dir, "pull")
	r = gc(t, dir, "pull", "--policy", "missing", "-q")
	if r.stderr != "" {
		t.Errorf("pull --policy missing of a present image printed: %s", r.stderr)
	}
	gc(t, dir, "image", "rm", img)
	r = gc(t, dir, "up", "-d")
	if !strings.Contains(r.stderr, "Image "+img+" Pulled") {
		t.Errorf("up did not pull the missing image: %s", r.stderr)
	}
	r = gc(t, dir, "exec", "-T", "app", "cat", "/pushed.txt")
	if r.stdout != "pushed-content\n" {
		t.Errorf("file from the pulled image: %s", r)
	}
	r = gc(t, dir, "up", "-d")
	if strings.Contains(r.stderr, "Pulling") {
		t.Errorf("up pulled an image that is present: %s", r.stderr)
	}

	// pull_policy daily does not pull an image pulled a moment ago;
	// every_1s pulls it again once a second has passed.
	daily := project(t, "daily", "services:\n  app:\n    image: "+img+"\n    command: sleep 300\n    pull_policy: daily\n")
	if r := gc(t, daily, "up", "-d"); strings.Contains(r.stderr, "Pulling") {
		t.Errorf("pull_policy daily pulled a fresh image: %s", r.stderr)
	}
	time.Sleep(1200 * time.Millisecond)
	every := project(t, "every", "services:\n  app:\n    image: "+img+"\n    command: sleep 300\n    pull_policy: every_1s\n")
	if r := gc(t, every, "up", "-d"); !strings.Contains(r.stderr, "Image "+img+" Pulled") {
		t.Errorf("pull_policy every_1s did not pull a 1 s old image: %s", r.stderr)
	}

	// A hosts.toml in GOCOMPOSE_HOSTS_DIR sends registry.test to this
	// registry over plain HTTP, as containerd's certs.d does.
	hostsDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(hostsDir, "registry.test"), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := "server = \"http://" + host + "\"\n"
	if err := os.WriteFile(filepath.Join(hostsDir, "registry.test", "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	aliased := project(t, "aliased", "services:\n  app:\n    image: registry.test/it/app:1\n    command: cat /pushed.txt\n")
	if r := gcRun(aliased, []string{"GOCOMPOSE_HOSTS_DIR=" + hostsDir}, "pull"); r.code != 0 {
		t.Fatalf("pull through hosts.toml: %s", r)
	}
	if r := gc(t, aliased, "run", "--rm", "-T", "app"); r.stdout != "pushed-content\n" {
		t.Errorf("run of the image pulled through hosts.toml: %s", r)
	}
}

// Pull of an image that does not exist fails with the service named; with
// --ignore-pull-failures it is a warning and the exit code is 0. pull_policy
// never refuses to fetch a missing image.
func TestPullFailures(t *testing.T) {
	requires(t)
	host := startRegistry(t, newRegistry())
	dir := project(t, "pullfail", "services:\n  ghost:\n    image: "+host+"/it/ghost:1\n")
	r := gcRun(dir, nil, "pull")
	if r.code == 0 || !strings.Contains(r.stderr, "service ghost") || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("pull of a missing image: %s", r)
	}
	r = gcRun(dir, nil, "pull", "--ignore-pull-failures")
	if r.code != 0 || !strings.Contains(r.stderr, "WARN") {
		t.Fatalf("pull --ignore-pull-failures: %s", r)
	}
	// A service that can build: a failed pull is a warning, and
	// --ignore-buildable skips it.
	buildable := project(t, "pullbuildable", "services:\n  app:\n    image: "+host+"/it/notyet:1\n    build:\n      dockerfile_inline: \"FROM busybox\\n\"\n")
	r = gcRun(buildable, nil, "pull")
	if r.code != 0 || !strings.Contains(r.stderr, "WARN") {
		t.Errorf("pull of a buildable service's missing image: %s", r)
	}
	r = gcRun(buildable, nil, "pull", "--ignore-buildable")
	if r.code != 0 || !strings.Contains(r.stderr, " Skipped Image can be built\n") || strings.Contains(r.stderr, "WARN") {
		t.Errorf("pull --ignore-buildable: %s", r)
	}
	if r := gcRun(buildable, nil, "up", "-d", "--pull", "sometimes"); r.code == 0 || !strings.Contains(r.stderr, `invalid --pull "sometimes"`) {
		t.Errorf("up --pull with a bad value: %s", r)
	}
	never := project(t, "pullnever", "services:\n  ghost:\n    image: "+host+"/it/ghost:1\n    pull_policy: never\n")
	r = gcRun(never, nil, "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "pull_policy is never") {
		t.Fatalf("up with pull_policy never and no image: %s", r)
	}
}

// A registry that requires basic auth refuses a pull without credentials
// and accepts one with the credential from DOCKER_CONFIG; push works the
// same way.
func TestRegistryBasicAuth(t *testing.T) {
	requires(t)
	host := startRegistry(t, basicAuth(newRegistry(), "alice", "wonderland"))
	good := []string{"DOCKER_CONFIG=" + dockerConfig(t, host, "alice", "wonderland")}
	bad := []string{"DOCKER_CONFIG=" + dockerConfig(t, host, "alice", "wrong")}
	none := []string{"DOCKER_CONFIG=" + t.TempDir()}

	pushTestImage(t, host, good)
	img := host + "/it/app:1"
	dir := project(t, "authpull", "services:\n  app:\n    image: "+img+"\n")
	for name, env := range map[string][]string{"no credentials": none, "a wrong password": bad} {
		r := gcRun(dir, env, "pull")
		if r.code == 0 || !strings.Contains(r.stderr, "service app") ||
			!(strings.Contains(r.stderr, "pull access denied") || strings.Contains(strings.ToLower(r.stderr), "unauthorized")) {
			t.Errorf("pull with %s: %s", name, r)
		}
	}
	r := gcRun(dir, good, "pull")
	if r.code != 0 {
		t.Fatalf("pull with credentials: %s", r)
	}
	r = gc(t, dir, "image", "ls", "-q")
	if !strings.Contains(r.stdout, img) {
		t.Errorf("image ls after an authenticated pull: %s", r.stdout)
	}

	// The same credential from a credential helper named in credHelpers.
	gc(t, dir, "image", "rm", img)
	helperDir := t.TempDir()
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n[ \"$host\" = \"" + host + "\" ] || { echo \"credentials not found in native keychain\"; exit 1; }\n" +
		"echo '{\"ServerURL\":\"" + host + "\",\"Username\":\"alice\",\"Secret\":\"wonderland\"}'\n"
	if err := os.WriteFile(filepath.Join(helperDir, "docker-credential-gctest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"credHelpers":{"`+host+`":"gctest"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = gcRun(dir, []string{"DOCKER_CONFIG=" + cfgDir, "PATH=" + helperDir + ":" + os.Getenv("PATH")}, "pull")
	if r.code != 0 {
		t.Fatalf("pull with a credential helper: %s", r)
	}
}

// stallingBlobs serves every large blob's first half, then stalls until
// released, so a pull can be cut off half-way.
type stallingBlobs struct {
	h       http.Handler
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stallingBlobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
		s.h.ServeHTTP(w, r)
		return
	}
	select {
	case <-s.release:
		s.h.ServeHTTP(w, r)
		return
	default:
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK || len(body) < 64<<10 {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	s.once.Do(func() { close(s.started) })
	select {
	case <-s.release:
	case <-r.Context().Done():
	}
}

// A pull killed half-way through a layer leaves no image; the next pull
// completes and the image runs.
func TestInterruptedPull(t *testing.T) {
	requires(t)
	reg := newRegistry()
	pushTestImage(t, startRegistry(t, reg), nil)
	stall := &stallingBlobs{h: reg, started: make(chan struct{}), release: make(chan struct{})}
	host := startRegistry(t, stall)
	img := host + "/it/app:1"
	dir := project(t, "cutpull", "services:\n  app:\n    image: "+img+"\n    command: cat /pushed.txt\n")

	cmd := exec.Command(bin, "pull")
	cmd.Dir = dir
	cmd.Env = suiteEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stall.started:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the pull never reached a layer: %s", stderr.String())
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	r := gc(t, dir, "image", "ls", "-q")
	if strings.Contains(r.stdout, img) {
		t.Fatalf("a pull killed half-way left the image %s:\n%s", img, r.stdout)
	}
	close(stall.release)
	gc(t, dir, "pull")
	r = gc(t, dir, "run", "--rm", "-T", "app")
	if r.stdout != "pushed-content\n" {
		t.Errorf("run after the resumed pull: %s", r)
	}
}

// A Dockerfile FROM an image only a registry that requires basic auth has:
// BuildKit pulls it with the credential from DOCKER_CONFIG (through the
// build's session) and refuses without one.
func TestBuildFromAuthenticatedRegistry(t *testing.T) {
	requires(t)
	host := startRegistry(t, basicAuth(newRegistry(), "alice", "wonderland"))
	good := []string{"DOCKER_CONFIG=" + dockerConfig(t, host, "alice", "wonderland")}
	pushTestImage(t, host, good)
	dir := project(t, "fromreg", `services:
  app:
    build:
      dockerfile_inline: |
        FROM `+host+`/it/app:1
        RUN cp /pushed.txt /copied.txt
    command: cat /copied.txt
`)
	if r := gcRun(dir, []string{"DOCKER_CONFIG=" + t.TempDir()}, "build"); r.code == 0 {
		t.Errorf("build FROM a private image without credentials succeeded: %s", r)
	}
	if r := gcRun(dir, good, "build"); r.code != 0 {
		t.Fatalf("build FROM a private image with credentials: %s", r)
	}
	if r := gc(t, dir, "run", "--rm", "-T", "app"); r.stdout != "pushed-content\n" {
		t.Errorf("run of the image built FROM the registry: %s", r)
	}
}

// build --push pushes every tag of the built images; builders other than
// the built-in one and --memory are refused.
func TestBuildPush(t *testing.T) {
	requiresBuildkit(t)
	host := startRegistry(t, newRegistry())
	dir := project(t, "bpush", "services:\n  app:\n    image: "+host+"/it/bpush:1\n    build:\n      dockerfile_inline: \"FROM busybox\\nRUN echo x > /x\\n\"\n      tags: [\""+host+"/it/bpush:latest\"]\n")
	r := gc(t, dir, "build", "--push")
	if !strings.Contains(r.stderr, "Image "+host+"/it/bpush:1 Pushed") {
		t.Errorf("build --push progress:\n%s", r.stderr)
	}
	for _, tag := range []string{"1", "latest"} {
		if !manifestExists(t, host, "it/bpush", tag) {
			t.Errorf("the registry has no it/bpush:%s after build --push", tag)
		}
	}
	if r := gcRun(dir, nil, "build", "--builder", "mybuilder"); r.code == 0 || !strings.Contains(r.stderr, `builder "mybuilder" is not available`) {
		t.Errorf("build --builder: %s", r)
	}
	if r := gcRun(dir, nil, "build", "-m", "1g"); r.code == 0 || !strings.Contains(r.stderr, "--memory") {
		t.Errorf("build -m: %s", r)
	}
}

// bridge convert --push builds the services with a build section, pushes
// them to the registry and writes manifests that pull the pushed images.
func TestBridgeConvertPush(t *testing.T) {
	requiresBuildkit(t)
	host := startRegistry(t, newRegistry())
	dir := project(t, "bconv", "services:\n  app:\n    build:\n      dockerfile_inline: \"FROM busybox\\nRUN echo x > /x\\n\"\n      tags: [\"elsewhere.example/never:1\"]\n  db:\n    image: busybox\n")
	r := gc(t, dir, "bridge", "convert", "--push", host, "-o", "k8s")
	if !strings.Contains(r.stderr, "Image "+host+"/bconv-app:latest Pushed") {
		t.Errorf("bridge convert --push progress:\n%s", r)
	}
	if !manifestExists(t, host, "bconv-app", "latest") {
		t.Error("the registry has no bconv-app:latest")
	}
	b, err := os.ReadFile(filepath.Join(dir, "k8s", "app-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "image: "+host+"/bconv-app:latest") {
		t.Errorf("the deployment does not pull the pushed image:\n%s", b)
	}
	if strings.Contains(r.stderr, "service app: build:") {
		t.Errorf("a pushed service is still warned about:\n%s", r.stderr)
	}
}

// pushIndex pushes host/repo:tag as an image index with one small image
// per platform (os/arch[/variant]); each image's one layer holds the file
// /platform naming it.
func pushIndex(t *testing.T, host, repo string, plats ...string) {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, pl := range plats {
		parts := strings.Split(pl, "/")
		p := v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
		layer, err := crane.Layer(map[string][]byte{"platform": []byte(pl)})
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, layer)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
		cfg.Config.Cmd = []string{"/platform"}
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	ref, err := name.ParseReference(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
}

// pull and up pick the host's platform from a multi-platform image (as
// they will on an ARM host: platforms.Default is the running one), and a
// missing platform is a clear error.
func TestPullPicksTheHostPlatform(t *testing.T) {
	requires(t)
	host := startRegistry(t, newRegistry())
	arch := goruntime.GOARCH
	pushIndex(t, host, "it/multi:1", "linux/arm64/v8", "linux/"+arch, "linux/arm/v7")
	pushIndex(t, host, "it/foreign:1", "linux/s390x", "windows/"+arch)
	dir := project(t, "multiplat", "services:\n  app:\n    image: "+host+"/it/multi:1\n")
	gc(t, dir, "pull")
	gc(t, dir, "create")
	out := gc(t, dir, "images", "--format", "json").stdout
	if !strings.Contains(out, `"linux/`+arch+`"`) {
		t.Errorf("images after pulling a multi-platform image on %s:\n%s", arch, out)
	}
	if got := gc(t, dir, "cp", "app:/platform", "-").stdout; !strings.Contains(got, "linux/"+arch) {
		t.Errorf("the container's /platform says %q, want linux/%s", got, arch)
	}
	bad := project(t, "foreignplat", "services:\n  app:\n    image: "+host+"/it/foreign:1\n")
	r := gcRun(bad, nil, "pull")
	if r.code == 0 || !strings.Contains(r.stderr, "it/foreign:1") || !strings.Contains(r.stderr, "linux/"+arch) {
		t.Errorf("pull of an image without this host's platform: %s", r)
	}
}
