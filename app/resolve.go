package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/model"
	"github.com/gocompose/gocompose/runtime"
)

// resolved is one service as this command makes its containers, resolved
// once: the image (by digest, with its config and HEALTHCHECK), the config
// hash, the healthcheck label, the log setting and the contents of its
// secrets and configs. Every replica is made from it; none reads the image
// store or the secret files again.
type resolved struct {
	svc    types.ServiceConfig
	image  model.Image
	hash   string
	health string // the healthcheck label; "" for none
	log    model.Log
	files  []fileContent
}

// resolve resolves svc for this command; errors name the service.
func (a *App) resolve(ctx context.Context, p *types.Project, svc types.ServiceConfig) (*resolved, error) {
	img, err := a.Engine.ResolveImage(ctx, svc.Image)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	return a.resolveWith(p, svc, img, a.hashDigest(ctx, svc, img.Digest))
}

// hashDigest is what the config hash takes of the images a service uses:
// its image's digest and, as Docker Compose adds them, those of the images
// its volumes of type image mount (so a changed one recreates it).
func (a *App) hashDigest(ctx context.Context, svc types.ServiceConfig, image string) string {
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeImage {
			d, _ := a.Engine.ImageID(ctx, v.Source)
			image += "," + d
		}
	}
	return image
}

// resolveWith resolves svc with its image already resolved.
func (a *App) resolveWith(p *types.Project, svc types.ServiceConfig, img model.Image, digest string) (*resolved, error) {
	var err error
	r := &resolved{svc: svc, image: img}
	if r.hash, err = model.ConfigHash(svc, digest); err != nil {
		return nil, err
	}
	hc, err := healthConfig(svc, img.Healthcheck)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	if hc != nil {
		b, err := json.Marshal(hc)
		if err != nil {
			return nil, fmt.Errorf("service %s: healthcheck: %w", svc.Name, err)
		}
		r.health = string(b)
	}
	if svc.Logging != nil {
		if r.log, err = runtime.LogConfigFrom(svc.Logging.Driver, svc.Logging.Options); err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
	}
	if r.files, err = readFiles(p, svc); err != nil {
		return nil, err
	}
	return r, nil
}

// resolveAll resolves the selected services before anything is made: a
// missing image, secret file or bad option fails the command with nothing
// created. Each distinct image is resolved once, the images in parallel.
func (a *App) resolveAll(ctx context.Context, p, sel *types.Project, scale map[string]int) (map[string]*resolved, error) {
	names := sel.ServiceNames()
	refs := map[string]bool{}
	for _, name := range names {
		refs[sel.Services[name].Image] = true
	}
	list := slices.Sorted(maps.Keys(refs))
	imgs := make([]model.Image, len(list))
	errs := make([]error, len(list))
	_ = eachLimited(len(list), a.limit(), func(i int) error {
		imgs[i], errs[i] = a.Engine.ResolveImage(ctx, list[i])
		return nil
	})
	byRef := map[string]int{}
	for i, ref := range list {
		byRef[ref] = i
	}
	out := map[string]*resolved{}
	for _, name := range names {
		svc := sel.Services[name]
		if n, ok := scale[name]; ok {
			svc.Scale = &n
		}
		i := byRef[svc.Image]
		if errs[i] != nil {
			return nil, fmt.Errorf("service %s: %w", name, errs[i])
		}
		r, err := a.resolveWith(p, svc, imgs[i], a.hashDigest(ctx, svc, imgs[i].Digest))
		if err != nil {
			return nil, err
		}
		out[name] = r
	}
	return out, nil
}
