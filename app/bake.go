package app

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/cli/cli/config"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/internal/labels"
)

// bakeFile is the build definition `build --print` shows: Docker Compose
// v5.5 builds through `docker buildx bake` and prints the bake file it
// would hand it; gocompose builds the same definitions through BuildKit's
// API, and prints them in that format.
type bakeFile struct {
	Groups  map[string]bakeGroup  `json:"group"`
	Targets map[string]bakeTarget `json:"target"`
}

type bakeGroup struct {
	Targets []string `json:"targets"`
}

type bakeTarget struct {
	Context          string            `json:"context,omitempty"`
	Contexts         map[string]string `json:"contexts,omitempty"`
	Dockerfile       string            `json:"dockerfile,omitempty"`
	DockerfileInline string            `json:"dockerfile-inline,omitempty"`
	Args             map[string]string `json:"args,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Tags             []string          `json:"tags,omitempty"`
	CacheFrom        []string          `json:"cache-from,omitempty"`
	CacheTo          []string          `json:"cache-to,omitempty"`
	Target           string            `json:"target,omitempty"`
	Secrets          []string          `json:"secret,omitempty"`
	SSH              []string          `json:"ssh,omitempty"`
	Platforms        []string          `json:"platforms,omitempty"`
	Pull             bool              `json:"pull,omitempty"`
	NoCache          bool              `json:"no-cache,omitempty"`
	NetworkMode      string            `json:"network,omitempty"`
	NoCacheFilter    []string          `json:"no-cache-filter,omitempty"`
	ShmSize          types.UnitBytes   `json:"shm-size,omitempty"`
	Ulimits          []string          `json:"ulimits,omitempty"`
	Call             string            `json:"call,omitempty"`
	Entitlements     []string          `json:"entitlements,omitempty"`
	ExtraHosts       map[string]string `json:"extra-hosts,omitempty"`
	Outputs          []string          `json:"output,omitempty"`
	Attest           []string          `json:"attest,omitempty"`
}

// printBake writes the bake file of the project's builds, the group
// "default" naming the services to build, as Docker Compose prints it.
func (a *App) printBake(w io.Writer, p *types.Project, names []string, o BuildOptions) error {
	targets := map[string]string{} // service -> bake target
	taken := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		t := strings.ReplaceAll(name, ".", "_")
		for taken[t] {
			t += "_"
		}
		targets[name], taken[t] = t, true
	}
	proxies := config.LoadDefaultConfigFile(io.Discard).ParseProxyConfig("", nil)
	f := bakeFile{Groups: map[string]bakeGroup{}, Targets: map[string]bakeTarget{}}
	for name, svc := range p.Services {
		b := svc.Build
		if b == nil {
			continue
		}
		args := map[string]string{}
		for k, v := range b.Args {
			if v != nil {
				args[k] = *v
			} else if env, ok := p.Environment[k]; ok {
				args[k] = env
			}
		}
		for _, kv := range o.Args {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				env, found := p.Environment[k]
				if !found {
					continue
				}
				v = env
			}
			args[k] = v
		}
		for k, v := range args {
			args[k] = strings.ReplaceAll(v, "${", "$${")
		}
		for k, v := range proxies {
			if _, ok := args[k]; !ok && v != nil {
				args[k] = *v
			}
		}
		lbls := maps.Clone(b.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		maps.Copy(lbls, buildLabels(p, svc))
		contexts := map[string]string{}
		for k, v := range b.AdditionalContexts {
			if dep, ok := strings.CutPrefix(v, types.ServicePrefix); ok {
				v = "target:" + targets[dep]
			}
			contexts[k] = v
		}
		entitlements := b.Entitlements
		if b.Privileged {
			entitlements = append(slices.Clone(entitlements), "security.insecure")
		}
		outputs := []string{"type=docker"}
		push := o.Push && svc.Image != ""
		switch {
		case len(b.Platforms) > 1:
			outputs = []string{fmt.Sprintf("type=image,push=%t", push)}
		case push:
			outputs = []string{"type=registry"}
		}
		var call string
		if o.Check {
			call, outputs = "lint", nil
		}
		var secrets []string
		for _, ref := range b.Secrets {
			def := p.Secrets[ref.Source]
			target := cmp.Or(ref.Target, ref.Source)
			switch {
			case def.Environment != "":
				secrets = append(secrets, fmt.Sprintf("id=%s,type=env,env=%s", target, def.Environment))
			case def.File != "":
				secrets = append(secrets, fmt.Sprintf("id=%s,type=file,src=%s", target, def.File))
			}
		}
		var ssh []string
		for _, k := range append(slices.Clone(b.SSH), o.SSH...) {
			ssh = append(ssh, k.ID+"="+k.Path)
		}
		var ulimits []string
		for _, u := range slices.Sorted(maps.Keys(b.Ulimits)) {
			l := b.Ulimits[u]
			if l.Single > 0 {
				ulimits = append(ulimits, fmt.Sprintf("%s=%d", u, l.Single))
			} else {
				ulimits = append(ulimits, fmt.Sprintf("%s=%d:%d", u, l.Soft, l.Hard))
			}
		}
		hosts := map[string]string{}
		for k, v := range b.ExtraHosts {
			hosts[k] = strings.Join(v, ",")
		}
		var attest []string
		switch b.Provenance {
		case "", "false":
		case "true":
			attest = append(attest, "type=provenance")
		default:
			attest = append(attest, "type=provenance,"+b.Provenance)
		}
		f.Targets[targets[name]] = bakeTarget{
			Context: b.Context, Contexts: contexts, Dockerfile: bakeDockerfile(b.Context, b.Dockerfile),
			DockerfileInline: strings.ReplaceAll(b.DockerfileInline, "${", "$${"),
			Args:             args, Labels: lbls, Tags: append(slices.Clone(b.Tags), ImageName(p, svc)),
			CacheFrom: b.CacheFrom, CacheTo: b.CacheTo, NetworkMode: b.Network, NoCacheFilter: b.NoCacheFilter,
			Platforms: b.Platforms, Target: b.Target, Secrets: secrets, SSH: ssh, Pull: b.Pull || o.Pull,
			NoCache: b.NoCache || o.NoCache, ShmSize: b.ShmSize, Ulimits: ulimits, Entitlements: entitlements,
			ExtraHosts: hosts, Outputs: outputs, Call: call, Attest: attest,
		}
	}
	var group bakeGroup
	for _, n := range names {
		group.Targets = append(group.Targets, targets[n])
	}
	f.Groups["default"] = group
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}

// buildLabels are the labels Docker Compose gives the images it builds.
func buildLabels(p *types.Project, svc types.ServiceConfig) map[string]string {
	return map[string]string{labels.Version: Version, labels.Project: p.Name, labels.Service: svc.Name}
}

// bakeDockerfile is the Dockerfile's path as Docker Compose writes it in a
// bake file: within a remote context as given, else absolute, its
// directory's symlinks resolved.
func bakeDockerfile(context, dockerfile string) string {
	if dockerfile == "" || build.IsRemoteContext(context) {
		return dockerfile
	}
	if !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(context, dockerfile)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(dockerfile)); err == nil {
		return filepath.Join(dir, filepath.Base(dockerfile))
	}
	return dockerfile
}
