package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/cp"
	"github.com/gocompose/gocompose/runtime"
)

// rootFS gives a container's root filesystem as a host path; the runtime
// implements it.
type rootFS interface {
	WithRootFS(ctx context.Context, id string, fn func(root string) error) error
}

// CpOptions are `cp`'s flags.
type CpOptions struct {
	All        bool // include the service's run (one-off) containers
	Index      int  // which replica (0: the first)
	Archive    bool
	FollowLink bool
}

// Cp copies between a service's containers and the host with docker cp's
// rules: "SERVICE:PATH" names the container side, "-" a tar stream on
// stdin or stdout. Copies from a service read its first container (or
// --index); copies to one write every container of it, as Docker Compose
// does.
func (a *App) Cp(ctx context.Context, p *types.Project, src, dst string, o CpOptions) error {
	fs, ok := a.Engine.(rootFS)
	if !ok {
		return errors.New("cp is not available with this engine")
	}
	srcSvc, srcPath, srcIn := splitServicePath(p, src)
	dstSvc, dstPath, dstIn := splitServicePath(p, dst)
	switch {
	case srcIn && dstIn:
		return errors.New("copying between services is not supported: copy to the host first")
	case !srcIn && !dstIn:
		return errors.New("one of source and destination must be SERVICE:PATH")
	}
	svc := srcSvc
	if dstIn {
		svc = dstSvc
	}
	cs, err := a.copyTargets(ctx, p, svc, srcIn, o)
	if err != nil {
		return err
	}
	host := cp.Options{Archive: o.Archive, FollowLink: o.FollowLink, OwnerUID: os.Getuid(), OwnerGID: os.Getgid()}
	inside := cp.Options{Archive: o.Archive, FollowLink: o.FollowLink}
	for _, c := range cs {
		err := fs.WithRootFS(ctx, c.ID, func(root string) error {
			switch {
			case srcIn && dst == "-":
				return cp.WriteTar(cp.Side{Root: root, Path: srcPath}, a.Out, o.FollowLink)
			case srcIn:
				return cp.Copy(cp.Side{Root: root, Path: srcPath}, cp.Side{Root: "/", Path: dst}, host)
			case src == "-":
				return cp.ReadTar(a.In, cp.Side{Root: root, Path: dstPath}, inside)
			default:
				return cp.Copy(cp.Side{Root: "/", Path: src}, cp.Side{Root: root, Path: dstPath}, inside)
			}
		})
		if err != nil {
			return fmt.Errorf("cp %s %s: %w", src, dst, err)
		}
		if dst != "-" {
			a.progress("Container", c.ID, "Copied")
		}
	}
	return nil
}

// copyTargets picks the containers a copy reads or writes, as Docker
// Compose does: --index one replica; else from a service its first
// container, to a service all of them (run containers too with --all).
func (a *App) copyTargets(ctx context.Context, p *types.Project, svc string, fromService bool, o CpOptions) ([]runtime.Container, error) {
	if o.Index > 0 {
		c, err := a.replica(ctx, p, svc, o.Index)
		return []runtime.Container{c}, err
	}
	var oneoff *bool // all
	if !o.All {
		oneoff = &no
	}
	cs, err := a.serviceContainers(ctx, p, []string{svc}, oneoff)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("no container found for service %q", svc)
	}
	slices.SortFunc(cs, func(x, y runtime.Container) int { return containerNumber(x) - containerNumber(y) })
	if fromService {
		return cs[:1], nil
	}
	return cs, nil
}

// splitServicePath reads "SERVICE:PATH" when SERVICE is one of the
// project's services; anything else is a host path.
func splitServicePath(p *types.Project, arg string) (string, string, bool) {
	svc, path, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg, false
	}
	if _, known := p.Services[svc]; !known {
		return "", arg, false
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return svc, path, true
}

// exporter writes a container's root filesystem as tar; the runtime
// implements it.
type exporter interface {
	ExportRootFS(ctx context.Context, id string, w io.Writer) error
}

// Export writes a service container's filesystem (without its volumes) as
// a tar archive to w, like docker compose export.
func (a *App) Export(ctx context.Context, p *types.Project, service string, index int, w io.Writer) error {
	ex, ok := a.Engine.(exporter)
	if !ok {
		return errors.New("export is not available with this engine")
	}
	c, err := a.replica(ctx, p, service, index)
	if err != nil {
		return err
	}
	return ex.ExportRootFS(ctx, c.ID, w)
}

// committer makes an image from a container; the runtime implements it.
type committer interface {
	Commit(ctx context.Context, id, ref string, o runtime.CommitOptions) (string, error)
}

// CommitOptions are `commit`'s flags.
type CommitOptions struct {
	Author, Message string
	NoPause         bool
	Index           int
}

// Commit makes the image ref from a service container's changes, pausing
// it meanwhile unless NoPause, and prints the new image's ID.
func (a *App) Commit(ctx context.Context, p *types.Project, service, ref string, o CommitOptions) error {
	cm, ok := a.Engine.(committer)
	if !ok {
		return errors.New("commit is not available with this engine")
	}
	c, err := a.replica(ctx, p, service, o.Index)
	if err != nil {
		return err
	}
	if !o.NoPause && c.State == runtime.StateRunning {
		if err := a.Engine.Pause(ctx, c.ID); err != nil {
			return err
		}
		defer func() { _ = a.Engine.Unpause(context.WithoutCancel(ctx), c.ID) }()
	}
	id, err := cm.Commit(ctx, c.ID, ref, runtime.CommitOptions{Author: o.Author, Message: o.Message})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, id)
	return nil
}
