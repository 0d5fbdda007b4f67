package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/cli/cli/config"
	bk "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/util/entitlements"
	"github.com/moby/buildkit/util/gitutil"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
)

// Request is one image build, from a service's build: section.
type Request struct {
	Context          string // absolute directory
	Dockerfile       string // relative to Context, or absolute
	DockerfileInline string
	Args             map[string]string
	Target           string
	Labels           map[string]string
	Tags             []string // fully qualified names; the first is the service image
	NoCache          bool
	// NoCacheFilter are the stages built without the cache (when NoCache
	// is not set), as buildx's --no-cache-filter.
	NoCacheFilter []string
	Pull          bool
	CacheFrom     []string // type=local,src=DIR | type=inline
	CacheTo       []string // type=local,dest=DIR | type=inline
	// AdditionalContexts maps a name to a directory or docker-image://REF.
	AdditionalContexts map[string]string
	Network            string // host | none | ""
	ShmSize            int64
	ExtraHosts         []string // host=ip
	Ulimits            []string // name=soft:hard
	Platform           string
	// Provenance attaches a provenance attestation: "mode=min" or
	// "mode=max" ("" for none).
	Provenance string
	// Secrets are the build secrets by id (RUN --mount=type=secret).
	Secrets map[string][]byte
	// SSH are the SSH agents or keys forwarded by id (RUN --mount=type=ssh);
	// no paths means $SSH_AUTH_SOCK.
	SSH []SSH
	// Entitlements are the insecure entitlements the build is granted
	// (security.insecure for RUN --security=insecure, network.host for
	// RUN --network=host), as buildx's --allow grants them.
	Entitlements []string
}

// Entitlements are what a build may be granted: the insecure entitlements
// the started buildkitd allows.
var Entitlements = []string{string(entitlements.EntitlementSecurityInsecure), string(entitlements.EntitlementNetworkHost)}

// SSH is one forwarded agent (a socket) or set of key files.
type SSH struct {
	ID    string
	Paths []string
}

// Result is what a build produced.
type Result struct {
	Digest string // image manifest digest
}

// Build runs the Dockerfile frontend and exports the image into
// containerd's store, showing BuildKit's own progress on out. The image is
// not unpacked: BuildKit's exporter unpacks outside any lease of ours, and two
// builds sharing a base layer then race containerd's garbage collector
// ("failed to commit snapshot extract-…: not found", moby/buildkit#6521).
// The caller unpacks it under its command's lease.
func Build(ctx context.Context, c *bk.Client, req Request, out io.Writer, mode string) (Result, error) {
	opt, cleanup, err := solveOpt(req)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	if mode == "" || mode == "auto" {
		mode = string(progressui.AutoMode)
	}
	display, err := progressui.NewDisplay(out, progressui.DisplayMode(mode))
	if err != nil {
		return Result{}, err
	}
	ch := make(chan *bk.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = display.UpdateFrom(context.WithoutCancel(ctx), ch)
	}()
	resp, err := c.Solve(ctx, nil, opt, ch)
	<-done
	if err != nil {
		return Result{}, err
	}
	return Result{Digest: resp.ExporterResponse["containerimage.digest"]}, nil
}

// IsRemoteContext reports whether a build context is a git repository or
// an http(s) URL (a tarball or a Dockerfile), which BuildKit fetches
// itself, rather than a directory.
func IsRemoteContext(c string) bool {
	return strings.Contains(c, "://") || strings.HasPrefix(c, "git@")
}

// IsGitSSH reports a git context fetched over ssh, for which Docker's
// builder forwards the default ssh agent unless the build names others
// (buildx's buildflags.IsGitSSH).
func IsGitSSH(c string) bool {
	u, err := gitutil.ParseURL(c)
	return err == nil && u.Scheme == gitutil.SSHProtocol
}

func solveOpt(req Request) (bk.SolveOpt, func(), error) {
	cleanup := func() {}
	remote := IsRemoteContext(req.Context)
	mounts := map[string]fsutil.FS{}
	attrs := map[string]string{"image-resolve-mode": "local"}
	dfDir, dfName := req.Context, "Dockerfile"
	switch {
	case req.DockerfileInline != "":
		tmp, err := os.MkdirTemp("", "gocompose-dockerfile")
		if err != nil {
			return bk.SolveOpt{}, cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := os.WriteFile(filepath.Join(tmp, "Dockerfile"), []byte(req.DockerfileInline), 0o600); err != nil {
			return bk.SolveOpt{}, cleanup, err
		}
		dfDir = tmp
	case req.Dockerfile != "" && remote && !filepath.IsAbs(req.Dockerfile):
		dfDir, dfName = "", req.Dockerfile // read from the fetched context
	case req.Dockerfile != "":
		p := req.Dockerfile
		if !filepath.IsAbs(p) {
			p = filepath.Join(req.Context, p)
		}
		dfDir, dfName = filepath.Dir(p), filepath.Base(p)
	case remote:
		dfDir = "" // the context's own Dockerfile
	}
	attrs["filename"] = dfName
	if remote {
		// The Dockerfile frontend fetches a git or http context itself
		// (git runs in buildkitd, on this host).
		attrs["context"] = req.Context
	} else {
		ctxFS, err := fsutil.NewFS(req.Context)
		if err != nil {
			return bk.SolveOpt{}, cleanup, fmt.Errorf("build context %s: %w", req.Context, err)
		}
		mounts["context"] = ctxFS
	}
	if dfDir != "" {
		if _, err := os.Stat(filepath.Join(dfDir, dfName)); err != nil {
			return bk.SolveOpt{}, cleanup, fmt.Errorf("dockerfile: %w", err)
		}
		dfFS, err := fsutil.NewFS(dfDir)
		if err != nil {
			return bk.SolveOpt{}, cleanup, err
		}
		mounts["dockerfile"] = dfFS
		if remote {
			attrs["dockerfilekey"] = "dockerfile" // a local Dockerfile for a fetched context
		}
	}
	if req.Pull {
		attrs["image-resolve-mode"] = "pull"
	}
	if req.Target != "" {
		attrs["target"] = req.Target
	}
	for _, k := range slices.Sorted(maps.Keys(req.Args)) {
		attrs["build-arg:"+k] = req.Args[k]
	}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	} else if len(req.NoCacheFilter) > 0 {
		attrs["no-cache"] = strings.Join(req.NoCacheFilter, ",")
	}
	if req.Network != "" {
		attrs["force-network-mode"] = req.Network
	}
	if req.ShmSize > 0 {
		attrs["shm-size"] = fmt.Sprint(req.ShmSize)
	}
	if len(req.ExtraHosts) > 0 {
		attrs["add-hosts"] = strings.Join(req.ExtraHosts, ",")
	}
	if len(req.Ulimits) > 0 {
		attrs["ulimit"] = strings.Join(req.Ulimits, ",")
	}
	if req.Platform != "" {
		attrs["platform"] = req.Platform
	}
	if req.Provenance != "" {
		attrs["attest:provenance"] = req.Provenance
	}
	for name, src := range req.AdditionalContexts {
		switch {
		case strings.HasPrefix(src, "docker-image://"):
			attrs["context:"+name] = src
		case strings.Contains(src, "://"):
			return bk.SolveOpt{}, cleanup, fmt.Errorf("additional context %s=%s: only directories and docker-image:// work offline", name, src)
		default:
			fs, err := fsutil.NewFS(src)
			if err != nil {
				return bk.SolveOpt{}, cleanup, fmt.Errorf("additional context %s: %w", name, err)
			}
			key := "ctx-" + name
			mounts[key] = fs
			attrs["context:"+name] = "local:" + key
		}
	}
	imports, err := cacheEntries(req.CacheFrom, "src")
	if err != nil {
		return bk.SolveOpt{}, cleanup, fmt.Errorf("cache_from: %w", err)
	}
	exports, err := cacheEntries(req.CacheTo, "dest")
	if err != nil {
		return bk.SolveOpt{}, cleanup, fmt.Errorf("cache_to: %w", err)
	}
	for _, e := range exports {
		if e.Type == "inline" {
			attrs["build-arg:BUILDKIT_INLINE_CACHE"] = "1"
		}
	}
	exports = slices.DeleteFunc(exports, func(e bk.CacheOptionsEntry) bool { return e.Type == "inline" })
	imports = slices.DeleteFunc(imports, func(e bk.CacheOptionsEntry) bool { return e.Type == "inline" })
	if len(req.Tags) == 0 {
		return bk.SolveOpt{}, cleanup, errors.New("build: no image name")
	}
	// buildkitd asks this session for registry credentials when a FROM
	// image has to be pulled: the docker CLI's config, as for pull.
	auth := authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(io.Discard)),
	})
	attach := []session.Attachable{auth}
	if len(req.Secrets) > 0 {
		attach = append(attach, secretsprovider.FromMap(req.Secrets))
	}
	if len(req.SSH) > 0 {
		var confs []sshprovider.AgentConfig
		for _, s := range req.SSH {
			if len(s.Paths) == 0 && os.Getenv("SSH_AUTH_SOCK") == "" {
				return bk.SolveOpt{}, cleanup, fmt.Errorf("ssh %s: no path given and SSH_AUTH_SOCK is not set", s.ID)
			}
			confs = append(confs, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
		sp, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return bk.SolveOpt{}, cleanup, fmt.Errorf("ssh: %w", err)
		}
		attach = append(attach, sp)
	}
	for _, e := range req.Entitlements {
		if !slices.Contains(Entitlements, e) {
			return bk.SolveOpt{}, cleanup, fmt.Errorf("entitlement %q: only %s can be granted", e, strings.Join(Entitlements, " and "))
		}
	}
	return bk.SolveOpt{
		AllowedEntitlements: req.Entitlements,
		Session:             attach,
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		LocalMounts:         mounts,
		CacheImports:        imports,
		CacheExports:        exports,
		Exports: []bk.ExportEntry{{Type: bk.ExporterImage, Attrs: map[string]string{
			"name": strings.Join(req.Tags, ","),
		}}},
	}, cleanup, nil
}

// cacheEntries parses "type=local,src=DIR" (or a bare DIR for local).
func cacheEntries(specs []string, pathKey string) ([]bk.CacheOptionsEntry, error) {
	var out []bk.CacheOptionsEntry
	for _, s := range specs {
		e := bk.CacheOptionsEntry{Attrs: map[string]string{}}
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if k == "type" {
				e.Type = v
			} else {
				e.Attrs[k] = v
			}
		}
		if e.Type == "" {
			if !strings.Contains(s, "=") {
				e.Type, e.Attrs[pathKey] = "local", s
			} else {
				return nil, fmt.Errorf("%q: no type", s)
			}
		}
		if e.Type != "local" && e.Type != "inline" {
			return nil, fmt.Errorf("%q: cache type %s needs a registry; only local and inline work offline", s, e.Type)
		}
		if e.Type == "local" && e.Attrs[pathKey] == "" {
			return nil, fmt.Errorf("%q: local cache needs %s=DIR", s, pathKey)
		}
		out = append(out, e)
	}
	return out, nil
}

// Prune removes build cache (all unused cache with all, else only what
// BuildKit considers reclaimable) and returns the bytes freed.
func Prune(ctx context.Context, c *bk.Client, all bool) (int64, error) {
	ch := make(chan bk.UsageInfo)
	var freed int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			freed += u.Size
		}
	}()
	var opts []bk.PruneOption
	if all {
		opts = append(opts, bk.PruneAll)
	}
	err := c.Prune(ctx, ch, opts...)
	close(ch)
	<-done
	return freed, err
}

// CheckResult is what BuildKit's Dockerfile linter found.
type CheckResult struct {
	Warnings int
	// Text is the linter's own report: each warning with its rule, URL
	// and the lines it is about.
	Text string
	// Error is a Dockerfile the linter could not read (a parse error).
	Error string
}

// Check runs the Dockerfile frontend's lint subrequest (what `docker
// build --check` asks for) on req's build without building anything.
func Check(ctx context.Context, c *bk.Client, req Request) (CheckResult, error) {
	opt, cleanup, err := solveOpt(req)
	if err != nil {
		return CheckResult{}, err
	}
	defer cleanup()
	frontend, attrs := opt.Frontend, maps.Clone(opt.FrontendAttrs)
	attrs["requestid"] = lint.RequestLint
	opt.Frontend, opt.FrontendAttrs, opt.Exports, opt.CacheExports = "", nil, nil, nil
	var res CheckResult
	_, err = c.Build(ctx, opt, "gocompose", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		r, err := gc.Solve(ctx, gateway.SolveRequest{Frontend: frontend, FrontendOpt: attrs})
		if err != nil {
			return nil, err
		}
		var lr lint.LintResults
		if err := json.Unmarshal(r.Metadata["result.json"], &lr); err != nil {
			return nil, fmt.Errorf("the linter's result: %w", err)
		}
		res.Warnings, res.Text = len(lr.Warnings), string(r.Metadata["result.txt"])
		if lr.Error != nil {
			var b strings.Builder
			lr.PrintErrorTo(&b, nil)
			res.Error = b.String()
		}
		return r, nil
	}, nil)
	if err != nil {
		return CheckResult{}, err
	}
	return res, nil
}
