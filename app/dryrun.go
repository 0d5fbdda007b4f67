package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/network"
	"github.com/gocompose/gocompose/runtime"
)

// DryRunPrefix starts every progress line of a dry run, as Docker Compose
// prints it.
const DryRunPrefix = " DRY-RUN MODE - "

// DryRun makes the app a dry run (--dry-run): containers, networks and
// images are read from the real engine, but every change is only
// recorded, in an overlay the rest of the command reads back, so the
// command prints what it would do and the host is left as it was.
// Volumes, secrets and health files are not written either.
func (a *App) DryRun() {
	a.dry = true
	a.Engine = &dryEngine{Engine: a.Engine, made: map[string]*runtime.Container{}, gone: map[string]bool{}, pulled: map[string]bool{}}
	if a.Net != nil {
		a.Net = &dryNet{Networker: a.Net, made: map[string]*network.Network{}}
	}
	a.DNS = nil
	if a.Builder != nil {
		a.Builder = dryBuilder{Builder: a.Builder, e: a.Engine.(*dryEngine)}
	}
}

// dryEngine is the engine of a dry run.
type dryEngine struct {
	Engine
	mu     sync.Mutex
	made   map[string]*runtime.Container // created or changed, by ID
	gone   map[string]bool               // removed
	pulled map[string]bool               // images pulled or built
}

func (d *dryEngine) current(ctx context.Context, id string) (runtime.Container, error) {
	if d.gone[id] {
		return runtime.Container{}, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if c, ok := d.made[id]; ok {
		return *c, nil
	}
	return d.Engine.Inspect(ctx, id)
}

// change applies fn to the container as the dry run sees it.
func (d *dryEngine) change(ctx context.Context, id string, fn func(c *runtime.Container) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.current(ctx, id)
	if err != nil {
		return err
	}
	if err := fn(&c); err != nil {
		return err
	}
	d.made[id] = &c
	return nil
}

func (d *dryEngine) Inspect(ctx context.Context, id string) (runtime.Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current(ctx, id)
}

func (d *dryEngine) List(ctx context.Context, match map[string]string) ([]runtime.Container, error) {
	real, err := d.Engine.List(ctx, match)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	byID := map[string]runtime.Container{}
	for _, c := range real {
		if !d.gone[c.ID] {
			byID[c.ID] = c
		}
	}
	for id, c := range d.made {
		ok := true
		for k, v := range match {
			ok = ok && c.Labels[k] == v
		}
		if ok && !d.gone[id] {
			byID[id] = *c
		} else {
			delete(byID, id)
		}
	}
	var out []runtime.Container
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out, nil
}

func (d *dryEngine) Create(ctx context.Context, c model.Container) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.current(ctx, c.ID); err == nil {
		return fmt.Errorf("create %s: container name already in use: %w", c.ID, errdefs.ErrAlreadyExists)
	}
	delete(d.gone, c.ID)
	d.made[c.ID] = &runtime.Container{ID: c.ID, Labels: maps.Clone(c.Labels), Image: c.Image.Ref, Created: time.Now(),
		State: runtime.StateCreated, Args: c.Service.Command}
	return nil
}

func (d *dryEngine) SetLabels(ctx context.Context, id string, set map[string]string) error {
	return d.change(ctx, id, func(c *runtime.Container) error {
		c.Labels = maps.Clone(c.Labels)
		for k, v := range set {
			if v == "" {
				delete(c.Labels, k)
			} else {
				c.Labels[k] = v
			}
		}
		return nil
	})
}

func (d *dryEngine) CreateTask(ctx context.Context, id string) error {
	_, err := d.Inspect(ctx, id)
	return err
}

func (d *dryEngine) Start(ctx context.Context, id string) error {
	return d.change(ctx, id, func(c *runtime.Container) error {
		c.State, c.StartedAt = runtime.StateRunning, time.Now()
		return nil
	})
}

func (d *dryEngine) StartAttached(ctx context.Context, id string, _ runtime.Stdio) (int, error) {
	return 0, d.Start(ctx, id)
}

func (d *dryEngine) Stop(ctx context.Context, id string, _ *time.Duration) error {
	return d.change(ctx, id, func(c *runtime.Container) error {
		if c.State == runtime.StateRunning || c.State == runtime.StatePaused {
			c.State, c.FinishedAt = runtime.StateExited, time.Now()
		}
		return nil
	})
}

func (d *dryEngine) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	return d.change(ctx, id, func(c *runtime.Container) error {
		if c.State == runtime.StateRunning {
			c.State, c.ExitCode = runtime.StateExited, 128+int(sig)
		}
		return nil
	})
}

func (d *dryEngine) Pause(ctx context.Context, id string) error {
	return d.change(ctx, id, func(c *runtime.Container) error { c.State = runtime.StatePaused; return nil })
}

func (d *dryEngine) Unpause(ctx context.Context, id string) error {
	return d.change(ctx, id, func(c *runtime.Container) error { c.State = runtime.StateRunning; return nil })
}

func (d *dryEngine) Remove(ctx context.Context, id string, _ bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.current(ctx, id); err != nil {
		return err
	}
	delete(d.made, id)
	d.gone[id] = true
	return nil
}

// Wait returns at once: nothing runs in a dry run.
func (d *dryEngine) Wait(ctx context.Context, id string) (int, error) {
	c, err := d.Inspect(ctx, id)
	return c.ExitCode, err
}

// Exec runs nothing and succeeds.
func (d *dryEngine) Exec(ctx context.Context, id string, _ runtime.ExecRequest) (int, error) {
	_, err := d.Inspect(ctx, id)
	return 0, err
}

func (d *dryEngine) ReadLogs(ctx context.Context, id string, o runtime.LogOptions, fn func(runtime.LogEntry)) error {
	d.mu.Lock()
	_, made := d.made[id]
	d.mu.Unlock()
	if made {
		return nil // a container of the dry run wrote nothing
	}
	o.Follow = false
	return d.Engine.ReadLogs(ctx, id, o, fn)
}

func (d *dryEngine) LoadImages(context.Context, io.Reader) ([]string, error) {
	return nil, fmt.Errorf("image load writes the image store: not in a dry run")
}

// Pull only records the image: the real store is not written.
func (d *dryEngine) Pull(_ context.Context, ref string, _ runtime.PullOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pulled[normalized(ref)] = true
	return nil
}

// normalized is the name an image is stored by (ref itself if it does not
// parse).
func normalized(ref string) string {
	if n, err := runtime.NormalizeImage(ref); err == nil {
		return n
	}
	return ref
}

func (d *dryEngine) ImageID(ctx context.Context, ref string) (string, error) {
	id, err := d.Engine.ImageID(ctx, ref)
	if err != nil && d.wasPulled(ref) {
		return dryDigest(ref), nil
	}
	return id, err
}

func (d *dryEngine) ResolveImage(ctx context.Context, ref string) (model.Image, error) {
	img, err := d.Engine.ResolveImage(ctx, ref)
	if err != nil && d.wasPulled(ref) {
		return model.Image{Ref: ref, Digest: dryDigest(ref)}, nil
	}
	return img, err
}

func (d *dryEngine) wasPulled(ref string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pulled[normalized(ref)]
}

// dryDigest stands for the digest an image pulled or built in a dry run
// would have.
func dryDigest(ref string) string {
	sum := sha256.Sum256([]byte("dry-run\x00" + ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// dryBuilder builds nothing; the image counts as built for the rest of the
// dry run. Checks, which change nothing, are the real builder's.
type dryBuilder struct {
	Builder
	e *dryEngine
}

func (b dryBuilder) Build(_ context.Context, req build.Request, _ io.Writer, _ string) (build.Result, error) {
	b.e.mu.Lock()
	defer b.e.mu.Unlock()
	for _, t := range req.Tags {
		b.e.pulled[normalized(t)] = true
	}
	return build.Result{Digest: dryDigest(req.Tags[0])}, nil
}

// dryNet is the Networker of a dry run: networks that exist are read,
// the others are made up; nothing is attached, no namespace is made.
type dryNet struct {
	Networker
	mu   sync.Mutex
	made map[string]*network.Network
}

func (n *dryNet) Ensure(_ context.Context, s network.Spec) (*network.Network, bool, error) {
	if got, err := n.Networker.Get(s.Namespace, s.Name); err == nil {
		return got, false, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	key := s.Namespace + "/" + s.Name
	if got, ok := n.made[key]; ok {
		return got, false, nil
	}
	subnet, err := netip.ParsePrefix(s.Subnet)
	if err != nil {
		subnet = netip.MustParsePrefix("192.0.2.0/24") // TEST-NET-1: nothing is allocated
	}
	got := &network.Network{Name: s.Name, Namespace: s.Namespace, Project: s.Project, Bridge: network.BridgeName(s.Namespace, s.Name),
		Subnet: subnet, Gateway: subnet.Addr().Next(), Internal: s.Internal, Labels: s.Labels}
	n.made[key] = got
	return got, true, nil
}

func (n *dryNet) Get(namespace, name string) (*network.Network, error) {
	n.mu.Lock()
	got, ok := n.made[namespace+"/"+name]
	n.mu.Unlock()
	if ok {
		return got, nil
	}
	return n.Networker.Get(namespace, name)
}

func (n *dryNet) Remove(context.Context, string, string) error { return nil }

func (n *dryNet) Attach(_ context.Context, _, _ string, as []network.Attachment) ([]network.Result, error) {
	var out []network.Result
	for _, a := range as {
		ip := a.Network.Gateway.Next()
		if a.IP != "" {
			if p, err := netip.ParseAddr(a.IP); err == nil {
				ip = p
			}
		}
		out = append(out, network.Result{Network: a.Network.Name, IfName: a.IfName, IP: ip, Gateway: a.Network.Gateway})
	}
	return out, nil
}

func (n *dryNet) Detach(context.Context, string, string, []network.Attachment) error  { return nil }
func (n *dryNet) Release(context.Context, string, string, []network.Attachment) error { return nil }
func (n *dryNet) DetachCached(context.Context, string, string) error                  { return nil }
func (n *dryNet) ReleaseStale(context.Context, string, string, []network.Attachment) error {
	return nil
}
func (n *dryNet) Restore(*network.Network) error { return nil }
func (n *dryNet) ServePorts(string) error        { return nil }
func (n *dryNet) NewNetNS(string) error          { return nil }
func (n *dryNet) DeleteNetNS(string) error       { return nil }

// The image commands of a dry run: listing is real, changes are not made.

func (d *dryEngine) ListImages(ctx context.Context) ([]runtime.ImageInfo, error) {
	if im, ok := d.Engine.(Images); ok {
		return im.ListImages(ctx)
	}
	return nil, nil
}

func (d *dryEngine) Push(context.Context, string) error              { return nil }
func (d *dryEngine) TagImage(context.Context, string, string) error  { return nil }
func (d *dryEngine) RemoveImage(context.Context, string, bool) error { return nil }
func (d *dryEngine) SaveImages(context.Context, io.Writer, []string) error {
	return fmt.Errorf("image save writes an archive: not in a dry run")
}

func (d *dryEngine) PruneImages(ctx context.Context, all bool) ([]string, error) {
	return nil, nil
}

// Mounts (volumes_from container:) and LabelEverywhere read through.

func (d *dryEngine) Mounts(ctx context.Context, id, stateDir string) ([]runtime.Mount, error) {
	ml, ok := d.Engine.(mountLister)
	if !ok {
		return nil, fmt.Errorf("volumes_from a container is not available with this engine")
	}
	return ml.Mounts(ctx, id, stateDir)
}

// Stats and Events read through.

func (d *dryEngine) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	s, ok := d.Engine.(statser)
	if !ok {
		return runtime.Stats{}, fmt.Errorf("stats are not available with this engine")
	}
	return s.Stats(ctx, id)
}

func (d *dryEngine) Events(ctx context.Context, fn func(runtime.Event)) error {
	s, ok := d.Engine.(EventSource)
	if !ok {
		return fmt.Errorf("events are not available with this engine")
	}
	return s.Events(ctx, fn)
}
