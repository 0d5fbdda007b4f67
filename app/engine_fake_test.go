package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is an in-memory Engine: containers are records, tasks are
// states, images are a map. It records every operation in order, so tests
// assert what was made and when, and fails operations on request.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	images     map[string]model.Image // by the ref as the file writes it
	registry   map[string]model.Image // what Pull can fetch
	ops        []string               // "create p-web-1", "start p-web-1", …
	fail       map[string]error       // "start p-db-1" -> error
	// exitOnStart makes a container exit with this code as soon as it
	// starts (a one-shot job).
	exitOnStart map[string]int
	logs        map[string][]runtime.LogEntry
	execCode    int
	execs       [][]string
}

type fakeContainer struct {
	model.Container
	created   time.Time
	state     string
	exitCode  int
	startedAt time.Time
	exited    chan struct{}
	broken    bool // its snapshot is gone
}

func newFakeEngine(images ...string) *fakeEngine {
	e := &fakeEngine{containers: map[string]*fakeContainer{}, images: map[string]model.Image{},
		registry: map[string]model.Image{}, fail: map[string]error{}, exitOnStart: map[string]int{},
		logs: map[string][]runtime.LogEntry{}}
	for _, ref := range images {
		e.images[norm(ref)] = fakeImage(ref)
	}
	return e
}

// norm is the name the image store keys an image by.
func norm(ref string) string {
	n, err := runtime.NormalizeImage(ref)
	if err != nil {
		return ref
	}
	return n
}

func fakeImage(ref string) model.Image {
	return model.Image{Ref: norm(ref), Digest: "sha256:" + strings.Repeat("a", 56) + fmt.Sprintf("%08x", len(ref)),
		Config: ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}}
}

func (e *fakeEngine) record(op, id string) error {
	e.ops = append(e.ops, op+" "+id)
	return e.fail[op+" "+id]
}

// opsOf lists the recorded operations of one kind, in order.
func (e *fakeEngine) opsOf(kind string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, o := range e.ops {
		if k, id, _ := strings.Cut(o, " "); k == kind {
			out = append(out, id)
		}
	}
	return out
}

func (e *fakeEngine) get(id string) (*fakeContainer, error) {
	c, ok := e.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

func (e *fakeEngine) Namespace() string { return "fake" }

func (e *fakeEngine) ResolveImage(_ context.Context, ref string) (model.Image, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("resolve", ref); err != nil {
		return model.Image{}, err
	}
	img, ok := e.images[norm(ref)]
	if !ok {
		return model.Image{}, fmt.Errorf("%s: %w", ref, runtime.ErrImageNotFound)
	}
	return img, nil
}

func (e *fakeEngine) Create(_ context.Context, c model.Container) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("create", c.ID); err != nil {
		return err
	}
	if _, ok := e.containers[c.ID]; ok {
		return fmt.Errorf("create %s: %w", c.ID, errdefs.ErrAlreadyExists)
	}
	e.containers[c.ID] = &fakeContainer{Container: c, created: time.Now(), state: runtime.StateCreated, exited: make(chan struct{})}
	return nil
}

func (e *fakeEngine) CreateTask(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("task", id); err != nil {
		return err
	}
	_, err := e.get(id)
	return err
}

func (e *fakeEngine) Start(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("start", id); err != nil {
		return err
	}
	c, err := e.get(id)
	if err != nil {
		return err
	}
	if c.state == runtime.StateRunning {
		return nil
	}
	c.state, c.startedAt, c.exited = runtime.StateRunning, time.Now(), make(chan struct{})
	if code, ok := e.exitOnStart[c.Labels["com.docker.compose.service"]]; ok {
		c.exit(code)
	}
	return nil
}

func (c *fakeContainer) exit(code int) {
	if c.state == runtime.StateExited {
		return
	}
	c.state, c.exitCode = runtime.StateExited, code
	close(c.exited)
}

func (e *fakeEngine) AttachStdio(ctx context.Context, id string, a runtime.AttachIO) error {
	return runtime.ErrNoStdio
}

func (e *fakeEngine) StartAttached(ctx context.Context, id string, stdio runtime.Stdio) (int, error) {
	if err := e.Start(ctx, id); err != nil {
		return 0, err
	}
	e.mu.Lock()
	for _, l := range e.logs[id] {
		fmt.Fprint(stdio.Out, l.Log)
	}
	e.mu.Unlock()
	return e.Wait(ctx, id)
}

func (e *fakeEngine) Stop(_ context.Context, id string, _ *time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("stop", id); err != nil {
		return err
	}
	c, err := e.get(id)
	if err != nil {
		return err
	}
	if c.state == runtime.StateRunning || c.state == runtime.StatePaused {
		c.exit(143)
	}
	return nil
}

func (e *fakeEngine) Remove(_ context.Context, id string, force bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("remove", id); err != nil {
		return err
	}
	c, err := e.get(id)
	if err != nil {
		return err
	}
	if c.state == runtime.StateRunning && !force {
		return fmt.Errorf("container %s is running: %w", id, errdefs.ErrFailedPrecondition)
	}
	delete(e.containers, id)
	return nil
}

func (e *fakeEngine) Kill(_ context.Context, id string, sig syscall.Signal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("kill", id); err != nil {
		return err
	}
	c, err := e.get(id)
	if err != nil {
		return err
	}
	if c.state == runtime.StateRunning {
		c.exit(128 + int(sig))
	}
	return nil
}

func (e *fakeEngine) Pause(_ context.Context, id string) error {
	return e.setState("pause", id, runtime.StateRunning, runtime.StatePaused)
}

func (e *fakeEngine) Unpause(_ context.Context, id string) error {
	return e.setState("unpause", id, runtime.StatePaused, runtime.StateRunning)
}

func (e *fakeEngine) setState(op, id, from, to string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record(op, id); err != nil {
		return err
	}
	c, err := e.get(id)
	if err != nil {
		return err
	}
	if c.state != from {
		return fmt.Errorf("container %s is %s: %w", id, c.state, errdefs.ErrFailedPrecondition)
	}
	c.state = to
	return nil
}

func (c *fakeContainer) view() runtime.Container {
	return runtime.Container{ID: c.ID, Labels: maps.Clone(c.Labels), Image: c.Image.Ref, Created: c.created,
		State: c.state, ExitCode: c.exitCode, StartedAt: c.startedAt, Args: c.Service.Command, Broken: c.broken}
}

func (e *fakeEngine) List(_ context.Context, match map[string]string) ([]runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []runtime.Container
	for _, id := range slices.Sorted(maps.Keys(e.containers)) {
		c := e.containers[id]
		ok := true
		for k, v := range match {
			if c.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, c.view())
		}
	}
	return out, nil
}

func (e *fakeEngine) Inspect(_ context.Context, id string) (runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.get(id)
	if err != nil {
		return runtime.Container{}, err
	}
	return c.view(), nil
}

func (e *fakeEngine) SetLabels(_ context.Context, id string, set map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.get(id)
	if err != nil {
		return err
	}
	if err := e.record("label", id); err != nil {
		return err
	}
	c.Labels = maps.Clone(c.Labels)
	for k, v := range set {
		if v == "" {
			delete(c.Labels, k)
		} else {
			c.Labels[k] = v
		}
	}
	return nil
}

func (e *fakeEngine) Wait(ctx context.Context, id string) (int, error) {
	e.mu.Lock()
	c, err := e.get(id)
	if err != nil {
		e.mu.Unlock()
		return 0, err
	}
	exited := c.exited
	e.mu.Unlock()
	select {
	case <-exited:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return c.exitCode, nil
}

// exit makes a running container exit, as its process would.
func (e *fakeEngine) exit(id string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.containers[id]; ok {
		c.exit(code)
	}
}

func (e *fakeEngine) Exec(_ context.Context, id string, req runtime.ExecRequest) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("exec", id); err != nil {
		return 0, err
	}
	c, err := e.get(id)
	if err != nil {
		return 0, err
	}
	if c.state != runtime.StateRunning {
		return 0, fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	e.execs = append(e.execs, req.Args)
	if req.Stdio.Out != nil {
		fmt.Fprintln(req.Stdio.Out, strings.Join(req.Args, " "))
	}
	return e.execCode, nil
}

func (e *fakeEngine) ReadLogs(ctx context.Context, id string, o runtime.LogOptions, fn func(runtime.LogEntry)) error {
	e.mu.Lock()
	entries := slices.Clone(e.logs[id])
	e.mu.Unlock()
	if o.Tail >= 0 && o.Tail < len(entries) {
		entries = entries[len(entries)-o.Tail:]
	}
	for _, l := range entries {
		fn(l)
	}
	// A follower returns once the container writes no more.
	for o.Follow && o.Done != nil && !o.Done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (e *fakeEngine) Pids(_ context.Context, id string) ([]uint32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if c.state != runtime.StateRunning {
		return nil, nil
	}
	return []uint32{4242}, nil
}

func (e *fakeEngine) LoadImages(context.Context, io.Reader) ([]string, error) {
	return nil, errdefs.ErrNotImplemented
}

func (e *fakeEngine) ImageID(_ context.Context, ref string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[norm(ref)]
	if !ok {
		return "", fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
	}
	return img.Digest, nil
}

func (e *fakeEngine) ImageUpdated(_ context.Context, ref string) (time.Time, error) {
	if _, err := e.ImageID(context.Background(), ref); err != nil {
		return time.Time{}, err
	}
	return time.Unix(1700000000, 0), nil
}

func (e *fakeEngine) Pull(_ context.Context, ref string, _ runtime.PullOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("pull", ref); err != nil {
		return err
	}
	img, ok := e.registry[ref]
	if !ok {
		return fmt.Errorf("pull %s: %w", ref, errdefs.ErrNotFound)
	}
	e.images[norm(ref)] = img
	return nil
}

// The image commands (Images).

func (e *fakeEngine) Push(_ context.Context, ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("push", ref); err != nil {
		return err
	}
	img, ok := e.images[norm(ref)]
	if !ok {
		return fmt.Errorf("push %s: %w", ref, errdefs.ErrNotFound)
	}
	e.registry[ref] = img
	return nil
}

func (e *fakeEngine) TagImage(_ context.Context, src, dst string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[norm(src)]
	if !ok {
		return fmt.Errorf("tag %s: %w", src, errdefs.ErrNotFound)
	}
	e.images[norm(dst)] = img
	return nil
}

func (e *fakeEngine) RemoveImage(_ context.Context, ref string, force bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.record("rmi", ref); err != nil {
		return err
	}
	if _, ok := e.images[norm(ref)]; !ok {
		return fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
	}
	for _, c := range e.containers {
		if norm(c.Image.Ref) == norm(ref) && !force {
			return fmt.Errorf("image %s is used by container %s: %w", ref, c.ID, errdefs.ErrFailedPrecondition)
		}
	}
	delete(e.images, norm(ref))
	return nil
}

func (e *fakeEngine) PruneImages(_ context.Context, all bool) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(e.images)) {
		used := false
		for _, c := range e.containers {
			used = used || norm(c.Image.Ref) == name
		}
		if !used && all {
			delete(e.images, name)
			out = append(out, name)
		}
	}
	return out, nil
}

func (e *fakeEngine) SaveImages(_ context.Context, w io.Writer, refs []string) error {
	_, err := fmt.Fprintf(w, "archive of %s\n", strings.Join(refs, ","))
	return err
}

func (e *fakeEngine) ListImages(context.Context) ([]runtime.ImageInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []runtime.ImageInfo
	for _, name := range slices.Sorted(maps.Keys(e.images)) {
		built := time.Unix(1700000000, 0)
		out = append(out, runtime.ImageInfo{Name: name, Digest: e.images[name].Digest, Size: 4 << 20, Created: built, Platform: "linux/amd64", Built: &built})
	}
	return out, nil
}

// fakeBuilder "builds" by putting an image into the engine's store and
// records each request.
type fakeBuilder struct {
	e    *fakeEngine
	mu   sync.Mutex
	reqs []build.Request
	n    int              // builds made, for distinct digests
	fail map[string]error // by the first tag
}

func (b *fakeBuilder) Build(_ context.Context, req build.Request, out io.Writer, _ string) (build.Result, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.n++
	n := b.n
	err := b.fail[req.Tags[0]]
	b.mu.Unlock()
	if err != nil {
		return build.Result{}, err
	}
	fmt.Fprintf(out, "#1 building %s\n", req.Tags[0])
	b.e.mu.Lock()
	defer b.e.mu.Unlock()
	for _, t := range req.Tags {
		img := fakeImage(t)
		img.Digest = "sha256:" + strings.Repeat("c", 56) + fmt.Sprintf("%08x", n)
		b.e.images[norm(t)] = img
	}
	return build.Result{Digest: "sha256:built"}, nil
}

func (b *fakeBuilder) Check(context.Context, build.Request) (build.CheckResult, error) {
	return build.CheckResult{}, errors.New("the fake builder does not lint")
}

func (b *fakeBuilder) built() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.reqs {
		out = append(out, runtime.FamiliarImage(r.Tags[0]))
	}
	return out
}

// fakeApp is an App on a fake engine and fake networks, with no DNS and no
// builder; its progress goes to the returned buffer.
func fakeApp(t *testing.T, e *fakeEngine) (*App, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{Engine: e, Net: newFakeNet(), In: strings.NewReader(""), Out: &syncWriter{w: &out}, Err: &syncWriter{w: &errb},
		LockDir: t.TempDir(), StateDir: t.TempDir(), RootDir: t.TempDir(), Parallel: 4}
	return a, &out, &errb
}

// syncWriter lets parallel operations write one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// load reads a compose file for project p, as spec would.
func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(yaml)}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("p", true) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeNet is an in-memory Networker: networks are records, attachments
// hand out addresses in order, namespaces are names.
type fakeNet struct {
	mu       sync.Mutex
	networks map[string]*network.Network // namespace/name
	netns    map[string]bool
	attached map[string][]string // container -> network names
	next     int
	served   []string // ServePorts calls, in order
}

func newFakeNet() *fakeNet {
	return &fakeNet{networks: map[string]*network.Network{}, netns: map[string]bool{}, attached: map[string][]string{}}
}

func (f *fakeNet) CheckPlugins() error { return nil }

func (f *fakeNet) Ensure(_ context.Context, s network.Spec) (*network.Network, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := s.Namespace + "/" + s.Name
	if n, ok := f.networks[key]; ok {
		return n, false, nil
	}
	i := len(f.networks)
	n := &network.Network{Name: s.Name, Namespace: s.Namespace, Project: s.Project, Bridge: network.BridgeName(s.Namespace, s.Name),
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", i)), Gateway: netip.MustParseAddr(fmt.Sprintf("10.99.%d.1", i)),
		Internal: s.Internal, Labels: s.Labels}
	f.networks[key] = n
	return n, true, nil
}

func (f *fakeNet) Get(namespace, name string) (*network.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.networks[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("network %s: %w", name, errdefs.ErrNotFound)
	}
	return n, nil
}

func (f *fakeNet) List() ([]network.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []network.Network
	for _, k := range slices.Sorted(maps.Keys(f.networks)) {
		out = append(out, *f.networks[k])
	}
	return out, nil
}

func (f *fakeNet) Remove(_ context.Context, namespace, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.networks, namespace+"/"+name)
	return nil
}

func (f *fakeNet) Attach(_ context.Context, id, netns string, as []network.Attachment) ([]network.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.netns[netns] {
		return nil, fmt.Errorf("attach %s: no namespace %s", id, netns)
	}
	var out []network.Result
	for _, a := range as {
		f.next++
		ip := a.Network.Subnet.Addr().Next()
		for range f.next {
			ip = ip.Next()
		}
		if a.IP != "" {
			ip = netip.MustParseAddr(a.IP)
		}
		out = append(out, network.Result{Network: a.Network.Name, IfName: a.IfName, IP: ip, Gateway: a.Network.Gateway})
		f.attached[id] = append(f.attached[id], a.Network.Name)
	}
	return out, nil
}

func (f *fakeNet) Detach(_ context.Context, id, _ string, _ []network.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, id)
	return nil
}

func (f *fakeNet) Release(ctx context.Context, id, netns string, as []network.Attachment) error {
	return f.Detach(ctx, id, netns, as)
}

func (f *fakeNet) DetachCached(ctx context.Context, id, netns string) error {
	return f.Detach(ctx, id, netns, nil)
}

func (f *fakeNet) ReleaseStale(context.Context, string, string, []network.Attachment) error {
	return nil
}

func (f *fakeNet) Restore(*network.Network) error { return nil }

func (f *fakeNet) ServePorts(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.served = append(f.served, id)
	return nil
}

func (f *fakeNet) NewNetNS(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.netns[path] {
		return fmt.Errorf("netns %s: %w", path, errdefs.ErrAlreadyExists)
	}
	f.netns[path] = true
	return nil
}

func (f *fakeNet) DeleteNetNS(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.netns, path)
	return nil
}
