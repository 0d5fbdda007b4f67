package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli-plugins/manager"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/spf13/cobra"
)

// A provider service (`provider:`) is made by an executable, not a
// container, with Docker Compose's protocol: the docker CLI plugin
// docker-TYPE (in Docker's plugin directories) or TYPE on PATH, run as
// `TYPE compose --project-name=P up|down|stop [--OPTION=VALUE…] SERVICE`
// with the project's environment, printing JSON messages on stdout, one
// per line: {"type": "info"|"error"|"setenv"|"rawsetenv"|"debug",
// "message": …}. setenv KEY=VALUE reaches the services that depend on it
// as SERVICE_KEY, rawsetenv as KEY. `TYPE compose metadata` may describe
// the options each command takes.

// providerMessage is one message of a provider.
type providerMessage struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// providerMetadata is what `TYPE compose metadata` prints.
type providerMetadata struct {
	Description string           `json:"description"`
	Up          providerCommand  `json:"up"`
	Down        providerCommand  `json:"down"`
	Stop        *providerCommand `json:"stop,omitempty"`
}

// providerCommand is the options a provider's command takes.
type providerCommand struct {
	Parameters []providerParam `json:"parameters"`
}

type providerParam struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
}

func (m providerMetadata) empty() bool {
	return m.Description == "" && m.Up.Parameters == nil && m.Down.Parameters == nil
}

func (c providerCommand) has(name string) bool {
	return slices.ContainsFunc(c.Parameters, func(p providerParam) bool { return p.Name == name })
}

// providerVars are the variables a provider set for its dependents.
type providerVars struct{ prefixed, raw map[string]string }

// dockerConfig gives Docker's plugin lookup the docker CLI's config.
type dockerConfig struct{ cfg *configfile.ConfigFile }

func (d dockerConfig) ConfigFile() *configfile.ConfigFile { return d.cfg }

// providerPath finds the provider's executable as Docker Compose does: the
// docker CLI plugin, else the executable named TYPE on PATH.
func providerPath(typ string) (string, error) {
	if typ == "compose" {
		return "", errors.New("'compose' is not a valid provider type")
	}
	cfg, err := config.Load(config.Dir())
	if err != nil {
		cfg = configfile.New("")
	}
	plugin, err := manager.GetPlugin(typ, dockerConfig{cfg}, &cobra.Command{})
	if err == nil {
		return plugin.Path, nil
	}
	if errdefs.IsNotFound(err) {
		path, err := exec.LookPath(typ)
		if err != nil {
			return "", fmt.Errorf("provider %q: no docker-%s CLI plugin and no %s executable on PATH", typ, typ, typ)
		}
		return path, nil
	}
	return "", fmt.Errorf("provider %q: %w", typ, err)
}

// runProvider runs a provider service's command (up, down or stop) and
// returns what it set. stop runs only when the provider's metadata has it.
func (a *App) runProvider(ctx context.Context, p *types.Project, svc types.ServiceConfig, command string) (providerVars, error) {
	vars := providerVars{prefixed: map[string]string{}, raw: map[string]string{}}
	states := map[string][3]string{
		"up": {"Creating", "Created", "create"}, "down": {"Removing", "Removed", "remove"}, "stop": {"Stopping", "Stopped", "stop"},
	}[command]
	working, done, action := states[0], states[1], states[2]
	path, err := providerPath(svc.Provider.Type)
	if err != nil {
		return vars, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	env := p.Environment.Values()
	meta := providerMeta(ctx, path, env)
	cmdMeta := meta.Up
	switch command {
	case "down":
		cmdMeta = meta.Down
	case "stop":
		if meta.Stop == nil {
			return vars, nil
		}
		cmdMeta = *meta.Stop
	}
	if !meta.empty() {
		for _, par := range cmdMeta.Parameters {
			if _, ok := svc.Provider.Options[par.Name]; par.Required && !ok {
				return vars, fmt.Errorf("service %s: required parameter %q is missing from provider %q definition", svc.Name, par.Name, svc.Provider.Type)
			}
		}
	}
	args := []string{"compose", "--project-name=" + p.Name, command}
	for _, k := range slices.Sorted(maps.Keys(svc.Provider.Options)) {
		if !meta.empty() && !cmdMeta.has(k) {
			continue
		}
		for _, v := range svc.Provider.Options[k] {
			args = append(args, fmt.Sprintf("--%s=%s", k, v))
		}
	}
	args = append(args, svc.Name)
	a.event(svc.Name, "Working", working)
	if a.dry {
		a.event(svc.Name, "Done", done)
		return vars, nil
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return vars, err
	}
	if err := cmd.Start(); err != nil {
		return vars, fmt.Errorf("service %s: provider %s: %w", svc.Name, path, err)
	}
	fail := func(err error) (providerVars, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return vars, err
	}
	dec := json.NewDecoder(out)
	for {
		var m providerMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(fmt.Errorf("service %s: provider %s: invalid response: %w", svc.Name, svc.Provider.Type, err))
		}
		switch m.Type {
		case "error":
			a.event(svc.Name, "Error", firstLine(m.Message))
			return fail(errors.New(m.Message))
		case "info":
			a.event(svc.Name, "Working", firstLine(m.Message))
		case "setenv", "rawsetenv":
			k, v, ok := strings.Cut(m.Message, "=")
			if !ok {
				return fail(fmt.Errorf("invalid response from plugin: %s", m.Message))
			}
			if m.Type == "setenv" {
				vars.prefixed[k] = v
			} else {
				vars.raw[k] = v
			}
		case "debug":
		default:
			return fail(fmt.Errorf("invalid response from plugin: %s", m.Type))
		}
	}
	if err := cmd.Wait(); err != nil {
		a.event(svc.Name, "Error", "Error "+err.Error())
		return vars, fmt.Errorf("failed to %s service provider: %s", action, err.Error())
	}
	a.event(svc.Name, "Done", done)
	return vars, nil
}

// providerMeta is what `PROVIDER compose metadata` prints; nothing when
// it fails, as Docker Compose then passes every option.
func providerMeta(ctx context.Context, path string, env []string) providerMetadata {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "compose", "metadata")
	cmd.Env, cmd.Stdout = env, &out
	var m providerMetadata
	if cmd.Run() != nil || json.Unmarshal(out.Bytes(), &m) != nil {
		return providerMetadata{}
	}
	return m
}

func firstLine(s string) string {
	s = strings.TrimRight(s, "\n")
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// providerOrder is the project's provider services, each after the
// providers it depends on (providers depend only on providers).
func providerOrder(p *types.Project) []string {
	var order []string
	done := map[string]bool{}
	for n := countProviders(p); len(order) < n; {
		progressed := false
		for _, name := range slices.Sorted(maps.Keys(p.Services)) {
			svc := p.Services[name]
			if svc.Provider == nil || done[name] {
				continue
			}
			ready := true
			for d := range svc.DependsOn {
				if dep, ok := p.Services[d]; ok && dep.Provider != nil && !done[d] {
					ready = false
				}
			}
			if ready {
				order, done[name], progressed = append(order, name), true, true
			}
		}
		if !progressed {
			break // a cycle: the loader refuses those
		}
	}
	return order
}

func countProviders(p *types.Project) int {
	n := 0
	for _, svc := range p.Services {
		if svc.Provider != nil {
			n++
		}
	}
	return n
}

// withoutProviders is the project without its provider services, which
// have no container.
func withoutProviders(p *types.Project) *types.Project {
	if countProviders(p) == 0 {
		return p
	}
	q := *p
	q.Services = maps.Clone(p.Services)
	maps.DeleteFunc(q.Services, func(_ string, svc types.ServiceConfig) bool { return svc.Provider != nil })
	return &q
}

// setProviderVars gives the services of the projects that depend on the
// provider its variables, as Docker Compose does: setenv's prefixed with
// the provider's name in capitals, rawsetenv's as they are (with a
// warning when that changes a variable the service sets).
func (a *App) setProviderVars(provider string, vars providerVars, projects ...*types.Project) {
	prefix := strings.ToUpper(provider) + "_"
	for i, q := range projects {
		for _, name := range slices.Sorted(maps.Keys(q.Services)) {
			svc := q.Services[name]
			if _, ok := svc.DependsOn[provider]; !ok {
				continue
			}
			env := maps.Clone(svc.Environment)
			if env == nil {
				env = types.MappingWithEquals{}
			}
			for k, v := range vars.prefixed {
				env[prefix+k] = &v
			}
			for k, v := range vars.raw {
				if old, ok := env[k]; ok && i == 0 && (old == nil || *old != v) {
					a.warn("provider %q overrides environment variable %q in service %q", provider, k, name)
				}
				env[k] = &v
			}
			svc.Environment = env
			q.Services[name] = svc
		}
	}
}
