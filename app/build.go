package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/scheduler"
)

// Builder builds one image; cmd wires it to buildkitd.
type Builder interface {
	Build(ctx context.Context, req build.Request, out io.Writer, progress string) (build.Result, error)
	// Check lints the build's Dockerfile and builds nothing.
	Check(ctx context.Context, req build.Request) (build.CheckResult, error)
}

// BuildOptions are the flags of `build` (and what `up --build` passes).
type BuildOptions struct {
	Services []string
	NoCache  bool
	Pull     bool
	Args     []string // --build-arg K=V or K
	Quiet    bool
	Progress string
	WithDeps bool
	// Push pushes the built images (every tag) once all are built.
	Push bool
	// SSH are forwarded to every build besides the services' own (build
	// --ssh).
	SSH types.SSHConfig
	// Provenance overrides build.provenance (build --provenance).
	Provenance string
	// Check lints the Dockerfiles instead of building (build --check).
	Check bool
	// Print prints the build definitions as a bake file and builds
	// nothing (build --print).
	Print bool
}

// ImageName is the image a service runs: image:, else <project>-<service>.
func ImageName(p *types.Project, svc types.ServiceConfig) string {
	if svc.Image != "" {
		return svc.Image
	}
	return p.Name + "-" + svc.Name
}

// withImageNames gives every service with a build section its image name,
// and makes a volume of type image that names a service name that
// service's image, so the rest of app can treat images as set.
func withImageNames(p *types.Project) *types.Project {
	q := *p
	q.Services = maps.Clone(p.Services)
	for name, svc := range q.Services {
		if svc.Image == "" && svc.Build != nil {
			svc.Image = ImageName(p, svc)
		}
		cloned := false
		for i, v := range svc.Volumes {
			if other, ok := p.Services[v.Source]; ok && v.Type == types.VolumeTypeImage {
				if !cloned {
					svc.Volumes, cloned = slices.Clone(svc.Volumes), true
				}
				svc.Volumes[i].Source = ImageName(p, other)
			}
		}
		q.Services[name] = svc
	}
	return &q
}

// Build builds the services' images; services whose build names another
// service (additional_contexts service:NAME) wait for it, the rest build
// in parallel.
func (a *App) Build(ctx context.Context, p *types.Project, o BuildOptions) error {
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	sel, err := selectServices(p, o.Services, o.WithDeps)
	if err != nil {
		return err
	}
	var names []string
	for _, n := range withBuildDeps(p, slices.Sorted(maps.Keys(sel.Services))) {
		if p.Services[n].Build != nil {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		a.warn("No services to build")
		return nil
	}
	if o.Print {
		return a.printBake(a.Out, p, names, o)
	}
	if o.Check {
		return a.checkBuilds(ctx, p, names, o)
	}
	if err := a.buildServices(ctx, p, names, o); err != nil {
		return err
	}
	if !o.Push {
		return nil
	}
	im, err := a.images()
	if err != nil {
		return err
	}
	for _, n := range names {
		svc := p.Services[n]
		for _, ref := range append([]string{ImageName(p, svc)}, svc.Build.Tags...) {
			if !o.Quiet {
				a.progress("Image", ref, "Pushing")
			}
			if err := im.Push(ctx, ref); err != nil {
				return fmt.Errorf("service %s: push %s: %w", n, ref, err)
			}
			if !o.Quiet {
				a.progress("Image", ref, "Pushed")
			}
		}
	}
	return nil
}

// withBuildDeps adds to names, transitively, the services whose image a
// build of theirs takes (additional_contexts service:NAME), as Docker
// Compose does; the result is sorted.
func withBuildDeps(p *types.Project, names []string) []string {
	set := map[string]bool{}
	var add func(n string)
	add = func(n string) {
		if set[n] {
			return
		}
		set[n] = true
		if s, ok := p.Services[n]; ok && s.Build != nil {
			for _, src := range s.Build.AdditionalContexts {
				if dep, ok := strings.CutPrefix(src, "service:"); ok {
					add(dep)
				}
			}
		}
	}
	for _, n := range names {
		add(n)
	}
	return slices.Sorted(maps.Keys(set))
}

func (a *App) buildServices(ctx context.Context, p *types.Project, names []string, o BuildOptions) error {
	if len(names) == 0 {
		return nil
	}
	if a.Builder == nil {
		return fmt.Errorf("building images needs buildkitd")
	}
	o.Quiet = o.Quiet || a.Quiet
	// Services whose build takes another service's image (additional
	// context service:NAME) build after it; the rest in parallel.
	g := scheduler.Graph{}
	for _, n := range names {
		g[n] = nil
		for _, src := range p.Services[n].Build.AdditionalContexts {
			if dep, ok := strings.CutPrefix(src, "service:"); ok {
				g[n] = append(g[n], dep)
			}
		}
	}
	errs := scheduler.Walk(ctx, g, func(ctx context.Context, n string, d scheduler.Deps) error {
		var de *scheduler.DependencyError
		if err := d.Wait(); errors.As(err, &de) {
			return fmt.Errorf("service %q not built: the image of service %s it builds from failed: %w", n, de.Dep, de.Err)
		} else if err != nil {
			return err
		}
		return a.buildOne(ctx, p, p.Services[n], o)
	})
	return scheduler.FirstError(names, errs)
}

func (a *App) buildOne(ctx context.Context, p *types.Project, svc types.ServiceConfig, o BuildOptions) error {
	req, err := buildRequest(p, svc, o)
	if err != nil {
		return err
	}
	var out io.Writer = a.Err
	mode := o.Progress
	if (mode == "" || mode == "auto") && a.JSONProgress {
		mode = "rawjson" // --progress json: BuildKit's own JSON lines
	}
	if o.Quiet {
		mode = "quiet"
	}
	for _, pl := range runtime.ForeignPlatforms(svc.Build.Platforms) {
		a.warn("service %s: this host cannot run %s programs (no binfmt_misc handler such as qemu-user-static's): the build's RUN steps for it will fail", svc.Name, pl)
	}
	if a.Display != nil {
		a.Display.Pause() // BuildKit shows its own display
		defer a.Display.Resume()
	}
	if _, err := a.Builder.Build(ctx, req, out, mode); err != nil {
		return fmt.Errorf("service %q failed to build: %w", svc.Name, err)
	}
	a.progress("Service", svc.Name, "Built")
	return nil
}

// checkBuilds runs BuildKit's Dockerfile checks for each service, printing
// their report as docker build --check does; any warning makes the exit
// code 1.
func (a *App) checkBuilds(ctx context.Context, p *types.Project, names []string, o BuildOptions) error {
	if a.Builder == nil {
		return fmt.Errorf("checking builds needs buildkitd")
	}
	found := false
	for _, n := range names {
		req, err := buildRequest(p, p.Services[n], o)
		if err != nil {
			return err
		}
		res, err := a.Builder.Check(ctx, req)
		if err != nil {
			return fmt.Errorf("service %q: check its build: %w", n, err)
		}
		if len(names) > 1 {
			fmt.Fprintf(a.Out, "[%s]\n", n)
		}
		switch {
		case res.Error != "":
			found = true
			fmt.Fprint(a.Out, res.Text)
			fmt.Fprint(a.Out, res.Error)
		case res.Warnings == 1:
			found = true
			fmt.Fprint(a.Out, "Check complete, 1 warning has been found!\n"+res.Text)
		case res.Warnings > 1:
			found = true
			fmt.Fprintf(a.Out, "Check complete, %d warnings have been found!\n%s", res.Warnings, res.Text)
		default:
			fmt.Fprintln(a.Out, "Check complete, no warnings found.")
		}
	}
	if found {
		return &ExitError{Code: 1}
	}
	return nil
}

// buildRequest is the build of svc's build section with the command's
// options.
func buildRequest(p *types.Project, svc types.ServiceConfig, o BuildOptions) (build.Request, error) {
	b := svc.Build
	req := build.Request{
		Context: b.Context, Dockerfile: b.Dockerfile, DockerfileInline: b.DockerfileInline,
		Target: b.Target, Labels: maps.Clone(b.Labels), NoCache: b.NoCache || o.NoCache, NoCacheFilter: b.NoCacheFilter, Pull: b.Pull || o.Pull,
		CacheFrom: b.CacheFrom, CacheTo: b.CacheTo, Network: b.Network, ShmSize: int64(b.ShmSize),
		Args: map[string]string{}, AdditionalContexts: map[string]string{},
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	maps.Copy(req.Labels, buildLabels(p, svc)) // as Docker Compose labels what it builds
	if req.Context == "" {
		req.Context = p.WorkingDir
	}
	if !filepath.IsAbs(req.Context) && !build.IsRemoteContext(req.Context) {
		req.Context = filepath.Join(p.WorkingDir, req.Context)
	}
	if req.Network == "default" {
		req.Network = ""
	}
	// As Docker Compose asks bake for them: the entitlements listed, and
	// security.insecure for privileged.
	req.Entitlements = slices.Clone(b.Entitlements)
	if b.Privileged && !slices.Contains(req.Entitlements, "security.insecure") {
		req.Entitlements = append(req.Entitlements, "security.insecure")
	}
	for k, v := range b.Args {
		if v != nil {
			req.Args[k] = *v
		} else if env, ok := os.LookupEnv(k); ok {
			req.Args[k] = env
		}
	}
	for _, kv := range o.Args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			env, found := os.LookupEnv(k)
			if !found {
				continue
			}
			v = env
		}
		req.Args[k] = v
	}
	for name, src := range b.AdditionalContexts {
		if dep, ok := strings.CutPrefix(src, "service:"); ok {
			ds, ok := p.Services[dep]
			if !ok {
				return req, fmt.Errorf("service %s: additional context %s names unknown service %s", svc.Name, name, dep)
			}
			src = "docker-image://" + ImageName(p, ds)
		} else if !strings.Contains(src, "://") && !filepath.IsAbs(src) {
			src = filepath.Join(p.WorkingDir, src)
		}
		req.AdditionalContexts[name] = src
	}
	req.ExtraHosts = append(req.ExtraHosts, b.ExtraHosts.AsList("=")...)
	for name, u := range b.Ulimits {
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		req.Ulimits = append(req.Ulimits, fmt.Sprintf("%s=%d:%d", name, soft, hard))
	}
	if len(b.Platforms) > 0 {
		// Several make one image index, a manifest each (BuildKit builds
		// them in one solve).
		req.Platform = strings.Join(b.Platforms, ",")
	}
	prov := b.Provenance
	if o.Provenance != "" {
		prov = o.Provenance
	}
	switch prov {
	case "", "false":
	case "true":
		req.Provenance = "mode=min"
	default:
		req.Provenance = prov // mode=min|max
	}
	for _, ref := range b.Secrets {
		def, ok := p.Secrets[ref.Source]
		if !ok {
			return req, fmt.Errorf("service %s: build secret %s is not defined", svc.Name, ref.Source)
		}
		var v []byte
		switch {
		case def.File != "":
			var err error
			if v, err = os.ReadFile(def.File); err != nil {
				return req, fmt.Errorf("service %s: build secret %s: %w", svc.Name, ref.Source, err)
			}
		case def.Environment != "":
			env, ok := p.Environment[def.Environment]
			if !ok {
				return req, fmt.Errorf("service %s: build secret %s: environment variable %s is not set", svc.Name, ref.Source, def.Environment)
			}
			v = []byte(env)
		case def.Content != "":
			v = []byte(def.Content)
		default:
			return req, fmt.Errorf("service %s: build secret %s: external secrets cannot be read", svc.Name, ref.Source)
		}
		if req.Secrets == nil {
			req.Secrets = map[string][]byte{}
		}
		req.Secrets[cmp.Or(ref.Target, ref.Source)] = v
	}
	ssh := append(slices.Clone(b.SSH), o.SSH...)
	if len(ssh) == 0 && build.IsGitSSH(req.Context) && os.Getenv("SSH_AUTH_SOCK") != "" {
		// BuildKit's git fetch of an ssh context needs an agent, which
		// Docker's builder forwards by itself.
		ssh = types.SSHConfig{{ID: "default"}}
	}
	for _, k := range ssh {
		s := build.SSH{ID: cmp.Or(k.ID, "default")}
		if k.Path != "" {
			s.Paths = []string{k.Path}
		}
		req.SSH = append(req.SSH, s)
	}
	for _, t := range append([]string{ImageName(p, svc)}, b.Tags...) {
		n, err := runtime.NormalizeImage(t)
		if err != nil {
			return req, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		req.Tags = append(req.Tags, n)
	}
	return req, nil
}

// Pruner reclaims build cache; the builder implements it.
type Pruner interface {
	Prune(ctx context.Context, all bool) (int64, error)
}

// BuilderPrune removes build cache and says how much space it freed.
func (a *App) BuilderPrune(ctx context.Context, all bool) error {
	p, ok := a.Builder.(Pruner)
	if !ok {
		return fmt.Errorf("builds are not available")
	}
	freed, err := p.Prune(ctx, all)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "Total:\t%s\n", units.HumanSize(float64(freed)))
	return nil
}
