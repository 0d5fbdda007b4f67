// Package spec loads compose files through compose-go with Docker Compose's rules
// and rejects the fields gocompose does not implement yet.
package spec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	composeerr "github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// ErrUnsupported marks a compose field that gocompose does not implement.
var ErrUnsupported = errors.New("not supported by gocompose")

// Options are the project flags shared by every command.
type Options struct {
	Files            []string // -f; "-" reads stdin
	ProjectName      string   // -p
	ProjectDirectory string   // --project-directory
	EnvFiles         []string // --env-file
	Profiles         []string // --profile
	// Services restricts the project to these services and their dependencies.
	Services []string
	// What `config` may leave out of the model (its --no-* flags):
	// interpolation of variables, normalization, relative path
	// resolution, the consistency checks, env_file resolution.
	NoInterpolate, NoNormalize, NoPathResolution, NoConsistency, NoEnvResolution bool
}

// Load reads the compose files the way Docker Compose does: discovery walking up
// parent directories, COMPOSE_FILE, .env, interpolation, profiles, extends and
// include, then checks that every field used is one gocompose implements.
func Load(ctx context.Context, o Options) (*types.Project, error) {
	project, err := load(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := CheckSupported(project); err != nil {
		return nil, err
	}
	return project, nil
}

// LoadOrName loads the project like Load, but when no compose file exists and
// a project name was given (-p), it returns a project with only that name,
// so that down, ps, logs and the like work on a project by name as in
// Docker Compose.
func LoadOrName(ctx context.Context, o Options) (*types.Project, error) {
	p, err := load(ctx, o)
	if err != nil {
		if errors.Is(err, composeerr.ErrNotFound) && o.ProjectName != "" && len(o.Files) == 0 {
			return &types.Project{Name: loader.NormalizeProjectName(o.ProjectName)}, nil
		}
		return nil, err
	}
	return p, nil
}

// LoadUnchecked loads without the support check; `config` uses it to print any
// valid file.
func LoadUnchecked(ctx context.Context, o Options) (*types.Project, error) {
	return load(ctx, o)
}

func load(ctx context.Context, o Options) (*types.Project, error) {
	registerFormats()
	wd := o.ProjectDirectory
	if wd != "" {
		abs, err := filepath.Abs(wd)
		if err != nil {
			return nil, fmt.Errorf("project directory %s: %w", wd, err)
		}
		wd = abs
	}
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(wd),
		cli.WithOsEnv,
	}
	if _, ok := os.LookupEnv("PWD"); !ok {
		if pwd, err := os.Getwd(); err == nil {
			fns = append(fns, cli.WithEnv([]string{"PWD=" + pwd}))
		}
	}
	// Docker Compose's order: the current directory's .env may name
	// COMPOSE_FILE; once the files are found, the project directory's .env
	// is read (again), so a file found in a parent directory or through
	// COMPOSE_FILE gets its own .env.
	fns = append(fns,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
	)
	if o.NoInterpolate {
		fns = append(fns, cli.WithInterpolation(false))
	}
	if o.NoNormalize {
		fns = append(fns, cli.WithNormalization(false))
	}
	if o.NoPathResolution {
		fns = append(fns, cli.WithResolvedPaths(false))
	}
	if o.NoConsistency {
		fns = append(fns, cli.WithConsistency(false))
	}
	// Services' environments (env_file) are resolved after selection, one
	// service at a time: an env file missing for a service the command does
	// not touch is no error, as in Docker Compose (EnvError).
	fns = append(fns, cli.WithoutEnvironmentResolution)
	opts, err := cli.NewProjectOptions(o.Files, fns...)
	if err != nil {
		return nil, err
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, locate(err, opts.ConfigPaths)
	}
	if len(o.Services) > 0 {
		for _, s := range o.Services {
			if _, err := project.GetService(s); err != nil {
				return nil, fmt.Errorf("no such service: %s", s)
			}
		}
		project, err = project.WithSelectedServices(o.Services)
		if err != nil {
			return nil, err
		}
	}
	if !o.NoEnvResolution {
		project = resolveEnvironments(project)
	}
	if len(project.ComposeFiles) > 0 && project.ComposeFiles[0] == "-" && o.ProjectDirectory == "" {
		// docker compose uses the current directory for stdin files
		if cwd, err := os.Getwd(); err == nil {
			project.WorkingDir = cwd
		}
	}
	return project, nil
}

// ConfigFilesLabel is the value of the config_files label: the absolute
// paths, comma-separated.
func ConfigFilesLabel(p *types.Project) string {
	files := make([]string, 0, len(p.ComposeFiles))
	for _, f := range p.ComposeFiles {
		if f != "-" {
			if abs, err := filepath.Abs(f); err == nil {
				f = abs
			}
		}
		files = append(files, f)
	}
	return strings.Join(files, ",")
}

// envErrorKey is the extension where a service's environment error waits
// for a command that uses the service.
const envErrorKey = "x-gocompose-env-error"

// resolveEnvironments resolves each service's environment (env_file and
// variables from the project's environment) on its own; a service whose
// env file cannot be read keeps the error for EnvError.
func resolveEnvironments(p *types.Project) *types.Project {
	out := *p
	out.Services = types.Services{}
	for name, svc := range p.Services {
		one := *p
		one.Services, one.DisabledServices = types.Services{name: svc}, nil
		r, err := one.WithServicesEnvironmentResolved(false)
		if err != nil {
			svc.Extensions = maps.Clone(svc.Extensions)
			if svc.Extensions == nil {
				svc.Extensions = types.Extensions{}
			}
			svc.Extensions[envErrorKey] = err.Error()
			out.Services[name] = svc
			continue
		}
		out.Services[name] = r.Services[name]
	}
	return &out
}

// EnvError is the error resolving the service's environment met at load
// (an env_file that cannot be read), nil when there was none: commands
// that use the service fail with it.
func EnvError(svc types.ServiceConfig) error {
	if v, ok := svc.Extensions[envErrorKey].(string); ok {
		return fmt.Errorf("service %s: %s", svc.Name, v)
	}
	return nil
}
