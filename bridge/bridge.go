// Package bridge is what `bridge convert` hands to gocompose-bridge, the
// executable that links the Kubernetes API types (package kube): the loaded
// project as compose YAML, which the helper loads again, and the
// conversion's options; Helper runs it. The CLI itself links no Kubernetes
// package.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/helper"
)

// Output formats.
const (
	FormatKubernetes = "kubernetes"
	FormatHelm       = "helm"
)

// Publish modes for published ports.
const (
	PublishLoadBalancer = "loadbalancer"
	PublishNodePort     = "nodeport"
)

// DefaultWaitImage runs the init containers that wait for dependencies.
const DefaultWaitImage = "registry.k8s.io/kubectl:v1.37.2"

// Options steer the conversion.
type Options struct {
	// Namespace of every object; the project name when empty.
	Namespace string
	// Publish makes published ports LoadBalancer (default) or NodePort
	// Services.
	Publish string
	// HostPaths maps bind mounts to hostPath volumes; without it a bind
	// mount is an error (a node's directory is not the host's).
	HostPaths bool
	// WaitImage is the image of the init containers that wait for
	// depends_on conditions (it must have kubectl on its PATH).
	WaitImage string
	// Images overrides the image of services (pushed builds).
	Images map[string]string
}

// HelperName is the executable that converts.
const HelperName = "gocompose-bridge"

// A Request is one conversion, JSON on the helper's stdin.
type Request struct {
	// Project is the loaded project as compose YAML (interpolated,
	// normalized, paths resolved), with its name, directory and
	// environment.
	Project     []byte            `json:"project"`
	Name        string            `json:"name"`
	WorkingDir  string            `json:"workingDir"`
	Environment map[string]string `json:"environment"`
	Options     Options           `json:"options"`
	Format      string            `json:"format"`
	Output      string            `json:"output"` // the directory written
}

// A Reply is what the helper wrote, JSON on its stdout.
type Reply struct {
	Files     int      `json:"files"`
	Namespace string   `json:"namespace"`
	Warnings  []string `json:"warnings,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// NewRequest is the request converting p.
func NewRequest(p *types.Project, o Options, format, output string) (Request, error) {
	y, err := p.MarshalYAML()
	if err != nil {
		return Request{}, fmt.Errorf("bridge convert: the project: %w", err)
	}
	return Request{Project: y, Name: p.Name, WorkingDir: p.WorkingDir, Environment: p.Environment,
		Options: o, Format: format, Output: output}, nil
}

// Load loads the request's project: what the CLI loaded, read back without
// interpolating, checking or selecting anything again (every file of the
// corpus converts to the same output through it: kube's tests).
func (q Request) Load(ctx context.Context) (*types.Project, error) {
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  q.WorkingDir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(q.WorkingDir, "compose.yaml"), Content: q.Project}},
		Environment: q.Environment,
	}, func(o *loader.Options) {
		o.SkipInterpolation = true
		o.SkipConsistencyCheck = true
		o.SetProjectName(q.Name, true)
		o.Profiles = []string{"*"} // the services the CLI had enabled
	})
	if err != nil {
		return nil, fmt.Errorf("bridge convert: the project handed over: %w", err)
	}
	return p, nil
}

// Helper runs conversions in gocompose-bridge.
type Helper struct {
	Exe string // "" finds it beside gocompose or on PATH
}

// Convert runs q in the helper, which writes the files.
func (h Helper) Convert(ctx context.Context, q Request) (Reply, error) {
	exe := h.Exe
	if exe == "" {
		var err error
		if exe, err = helper.Find(HelperName); err != nil {
			return Reply{}, fmt.Errorf("%w: bridge convert runs in it", err)
		}
	}
	var r Reply
	if err := helper.Call(ctx, exe, q, &r, nil); err != nil {
		return r, err
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}
