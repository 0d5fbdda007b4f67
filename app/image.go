package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/gocompose/gocompose/runtime"
)

// Images is what the image commands need beyond Engine; the runtime
// implements it.
type Images interface {
	Push(ctx context.Context, ref string) error
	TagImage(ctx context.Context, src, dst string) error
	RemoveImage(ctx context.Context, ref string, force bool) error
	PruneImages(ctx context.Context, all bool) ([]string, error)
	SaveImages(ctx context.Context, w io.Writer, refs []string) error
	ListImages(ctx context.Context) ([]runtime.ImageInfo, error)
}

func (a *App) images() (Images, error) {
	im, ok := a.Engine.(Images)
	if !ok {
		return nil, errors.New("image commands are not available with this engine")
	}
	return im, nil
}

// PullOptions are `pull`'s flags.
type PullOptions struct {
	Services       []string
	Quiet          bool
	IgnoreFailures bool
	IncludeDeps    bool
	// IgnoreBuildable skips services that have a build section.
	IgnoreBuildable bool
	// Policy is "always" (the default) or "missing".
	Policy string
}

// Pull pulls the services' images, each image once, in parallel. Services
// that only build (no image:), pull_policy build or never are skipped; a
// failed pull of a service that can build is a warning, as in Docker
// Compose.
func (a *App) Pull(ctx context.Context, p *types.Project, o PullOptions) error {
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	switch o.Policy {
	case "", types.PullPolicyAlways, types.PullPolicyMissing:
	default:
		return fmt.Errorf("invalid --policy %q: use always or missing", o.Policy)
	}
	sel, err := selectServices(p, o.Services, o.IncludeDeps)
	if err != nil {
		return err
	}
	byImage := map[string][]types.ServiceConfig{}
	// What is not pulled says why, as Docker Compose v5 says it.
	skip := func(id, why string) {
		if !o.Quiet {
			a.emit(progressEvent{ID: id, Status: "Done", Text: "Skipped", Details: why})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		svc := sel.Services[name]
		policy, _, err := svc.GetPullPolicy()
		if err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
		switch {
		case svc.Image == "":
			skip(name, "No image to be pulled")
			continue
		case policy == types.PullPolicyBuild || policy == types.PullPolicyNever:
			skip("Image "+svc.Image, "")
			continue
		case o.Policy == types.PullPolicyMissing:
			if _, err := a.Engine.ImageID(ctx, svc.Image); err == nil {
				skip("Image "+svc.Image, "Image is already present locally")
				continue
			}
		}
		if o.IgnoreBuildable && svc.Build != nil {
			skip("Image "+svc.Image, "Image can be built")
			continue
		}
		byImage[svc.Image] = append(byImage[svc.Image], svc)
	}
	refs := slices.Sorted(maps.Keys(byImage))
	errs := make([]error, len(refs))
	_ = a.parallel(len(refs), func(i int) error {
		svcs := byImage[refs[i]]
		canBuild := slices.ContainsFunc(svcs, func(s types.ServiceConfig) bool { return s.Build != nil })
		err := a.pullImage(ctx, svcs[0], o.Quiet, canBuild)
		if err == nil {
			return nil
		}
		if canBuild || o.IgnoreFailures {
			a.warn("%v", err)
			return nil
		}
		errs[i] = err
		return nil
	})
	return errors.Join(errs...)
}

// pullImage pulls one service's image with Docker Compose v5's progress:
// "Image busybox Pulling", each layer's steps (its short digest, with the
// bytes so far; the live display shows them on the image's line), "Image
// busybox Pulled". A failure is an error, or a warning when the service
// can build the image instead.
func (a *App) pullImage(ctx context.Context, svc types.ServiceConfig, quiet, canBuild bool) error {
	id := "Image " + svc.Image
	if !quiet {
		a.event(id, "Working", "Pulling")
	}
	o := runtime.PullOptions{Platform: svc.Platform}
	if !quiet {
		o.Progress = func(l runtime.LayerProgress) {
			ev := progressEvent{ParentID: id, ID: l.ID, Status: "Working", Text: l.Status,
				Details: units.HumanSize(float64(l.Current)), Current: l.Current, Total: l.Total}
			switch l.Status {
			case "Download complete", "Already exists", "Pull complete":
				ev.Status, ev.Percent = "Done", 100
			case "Downloading":
				if l.Total > 0 {
					ev.Percent = int(min(l.Current*100/l.Total, 100))
				}
			default:
				ev.Current, ev.Total = 0, 0
			}
			a.emit(ev)
		}
	}
	if err := a.Engine.Pull(ctx, svc.Image, o); err != nil {
		if !quiet {
			if canBuild {
				a.event(id, "Warning", err.Error())
			} else {
				a.emit(progressEvent{ID: id, Status: "Error", Text: "Error", Details: err.Error()})
			}
		}
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	if !quiet {
		a.event(id, "Done", "Pulled")
	}
	return nil
}

// pullForUp pulls what the selected services' pull_policy (or up --pull)
// asks for before anything is built or created: missing images by default,
// every image for always, images older than the period for
// daily/weekly/every_<duration>; never and build never pull. A service
// with a build section whose image is missing is built, not pulled.
func (a *App) pullForUp(ctx context.Context, sel *types.Project, override string, quiet bool) error {
	switch override {
	case "policy", types.PullPolicyBuild:
		override = "" // each service's pull_policy (build is handled by the build step)
	case "", types.PullPolicyAlways, types.PullPolicyMissing, types.PullPolicyNever:
	default:
		return fmt.Errorf("invalid --pull %q: use always, missing, never, build or policy", override)
	}
	var todo []types.ServiceConfig
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		svc := sel.Services[name]
		if seen[svc.Image] {
			continue
		}
		policy, every, err := svc.GetPullPolicy()
		if err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
		if override != "" && policy != types.PullPolicyBuild {
			policy = override
		}
		if policy == types.PullPolicyIfNotPresent {
			policy = types.PullPolicyMissing
		}
		_, idErr := a.Engine.ImageID(ctx, svc.Image)
		present := idErr == nil
		need := false
		switch policy {
		case types.PullPolicyAlways:
			need = true
		case types.PullPolicyMissing:
			need = !present && svc.Build == nil
		case types.PullPolicyRefresh:
			need = !present
			if present {
				updated, err := a.Engine.ImageUpdated(ctx, svc.Image)
				need = err != nil || time.Since(updated) > every
			}
		case types.PullPolicyNever:
			if !present && svc.Build == nil {
				return fmt.Errorf("service %s: image %s is not present and pull_policy is never", name, svc.Image)
			}
		}
		if need {
			seen[svc.Image] = true
			todo = append(todo, svc)
		}
	}
	// Images that volumes of type image mount are pulled when missing, as
	// Docker Compose pulls them (withImageNames made a project service's
	// name its image, built by the build step when missing).
	built := map[string]bool{}
	for _, svc := range sel.Services {
		if svc.Build != nil {
			built[svc.Image] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		for i, v := range sel.Services[name].Volumes {
			if v.Type != types.VolumeTypeImage || seen[v.Source] || built[v.Source] {
				continue
			}
			if _, err := a.Engine.ImageID(ctx, v.Source); err != nil {
				seen[v.Source] = true
				pull := types.ServiceConfig{Name: fmt.Sprintf("%s:volume %d", name, i)}
				pull.Image = v.Source
				todo = append(todo, pull)
			}
		}
	}
	return a.parallel(len(todo), func(i int) error {
		svc := todo[i]
		err := a.pullImage(ctx, svc, quiet, svc.Build != nil)
		if err != nil && svc.Build != nil {
			a.warn("%v; building it instead", err)
			return nil
		}
		return err
	})
}

// PushOptions are `push`'s flags.
type PushOptions struct {
	Services       []string
	Quiet          bool
	IgnoreFailures bool
	IncludeDeps    bool
}

// Push pushes the images of services that build one and name it
// (image: registry/repo:tag); other services are skipped, as in Docker
// Compose.
func (a *App) Push(ctx context.Context, p *types.Project, o PushOptions) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	if err := checkServices(p, o.Services); err != nil {
		return err
	}
	sel, err := selectServices(p, o.Services, o.IncludeDeps)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		svc := sel.Services[name]
		if svc.Build == nil || svc.Image == "" {
			if !o.Quiet {
				a.event(name, "Done", "Skipped")
			}
			continue
		}
		// The image and its build tags, each under its name, as Docker
		// Compose v5 pushes them.
		for _, tag := range append([]string{svc.Image}, svc.Build.Tags...) {
			if !o.Quiet {
				a.event(tag, "Working", "Pushing")
			}
			if err := im.Push(ctx, tag); err != nil {
				if !o.Quiet {
					a.event(tag, map[bool]string{true: "Warning", false: "Error"}[o.IgnoreFailures], err.Error())
				}
				err = fmt.Errorf("service %s: %w", name, err)
				if o.IgnoreFailures {
					a.warn("%v", err)
					continue
				}
				errs = append(errs, err)
				continue
			}
			if !o.Quiet {
				a.event(tag, "Done", "Pushed")
			}
		}
	}
	return errors.Join(errs...)
}

// ImageLoad loads images from a docker or OCI archive.
func (a *App) ImageLoad(ctx context.Context, in io.Reader) error {
	names, err := a.Engine.LoadImages(ctx, in)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintf(a.Out, "Loaded image: %s\n", runtime.FamiliarImage(n))
	}
	return nil
}

// ImageSave writes the images to w as one archive.
func (a *App) ImageSave(ctx context.Context, w io.Writer, refs []string) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	return im.SaveImages(ctx, w, refs)
}

// ImageTag names src also dst.
func (a *App) ImageTag(ctx context.Context, src, dst string) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	return im.TagImage(ctx, src, dst)
}

// ImageRm removes images; all are tried, and the errors joined.
func (a *App) ImageRm(ctx context.Context, refs []string, force bool) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		if err := im.RemoveImage(ctx, ref, force); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(a.Out, "Untagged: %s\n", runtime.FamiliarImage(ref))
	}
	return errors.Join(errs...)
}

// ImagePrune removes unused images (dangling ones unless all).
func (a *App) ImagePrune(ctx context.Context, all bool) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	removed, err := im.PruneImages(ctx, all)
	if len(removed) > 0 {
		fmt.Fprintln(a.Out, "Deleted Images:")
		for _, n := range removed {
			fmt.Fprintf(a.Out, "untagged: %s\n", runtime.FamiliarImage(n))
		}
	}
	return err
}

// ImageLs lists images like `docker image ls`; quiet prints names.
func (a *App) ImageLs(ctx context.Context, quiet bool) error {
	im, err := a.images()
	if err != nil {
		return err
	}
	imgs, err := im.ListImages(ctx)
	if err != nil {
		return err
	}
	if quiet {
		for _, i := range imgs {
			fmt.Fprintln(a.Out, runtime.FamiliarImage(i.Name))
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, i := range imgs {
		repo, tag := splitRef(runtime.FamiliarImage(i.Name))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", repo, tag, shortID(i.Digest), units.HumanSize(float64(i.Size)))
	}
	return tw.Flush()
}

func shortID(digest string) string {
	id := strings.TrimPrefix(digest, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
