package buildkit

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
	"github.com/gocompose/gocompose/build"
	bk "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
)

// Build runs the Dockerfile frontend and exports the image into
// containerd's store, showing BuildKit's own progress on out. The image is
// not unpacked: BuildKit's exporter unpacks outside any lease of ours, and two
// builds sharing a base layer then race containerd's garbage collector
// ("failed to commit snapshot extract-…: not found", moby/buildkit#6521).
// The caller unpacks it under its command's lease.
func Build(ctx context.Context, c *bk.Client, req build.Request, out io.Writer, mode string) (build.Result, error) {
	opt, cleanup, err := solveOpt(req)
	if err != nil {
		return build.Result{}, err
	}
	defer cleanup()
	if mode == "" || mode == "auto" {
		mode = string(progressui.AutoMode)
	}
	display, err := progressui.NewDisplay(out, progressui.DisplayMode(mode))
	if err != nil {
		return build.Result{}, err
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
		return build.Result{}, err
	}
	return build.Result{Digest: resp.ExporterResponse["containerimage.digest"]}, nil
}

func solveOpt(req build.Request) (bk.SolveOpt, func(), error) {
	cleanup := func() {}
	remote := build.IsRemoteContext(req.Context)
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
		if !slices.Contains(build.Entitlements, e) {
			return bk.SolveOpt{}, cleanup, fmt.Errorf("entitlement %q: only %s can be granted", e, strings.Join(build.Entitlements, " and "))
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

// Check runs the Dockerfile frontend's lint subrequest (what `docker
// build --check` asks for) on req's build without building anything.
func Check(ctx context.Context, c *bk.Client, req build.Request) (build.CheckResult, error) {
	opt, cleanup, err := solveOpt(req)
	if err != nil {
		return build.CheckResult{}, err
	}
	defer cleanup()
	frontend, attrs := opt.Frontend, maps.Clone(opt.FrontendAttrs)
	attrs["requestid"] = lint.RequestLint
	opt.Frontend, opt.FrontendAttrs, opt.Exports, opt.CacheExports = "", nil, nil, nil
	var res build.CheckResult
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
		return build.CheckResult{}, err
	}
	return res, nil
}
