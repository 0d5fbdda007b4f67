package main

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/platforms"
	"github.com/gocompose/gocompose/internal/testimage"
	"github.com/google/go-containerregistry/pkg/registry"
)

// noiseMiB is the size of the bench image's one layer (random bytes, so no
// other image shares it).
const noiseMiB = 32

// imageBench measures pull, load and save of a one-layer image of noiseMiB
// random bytes from an in-process registry on 127.0.0.1, each against the
// containerd client doing the same through the same APIs.
func imageBench(ctx context.Context, c *containerd.Client) []row {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/bench/noise:1"

	archivePath := noiseArchive(ref)
	load := func() []images.Image {
		f, err := os.Open(archivePath)
		check(err)
		defer f.Close()
		imgs, err := c.Import(ctx, f)
		check(err)
		return imgs
	}
	remove := func() {
		err := c.ImageService().Delete(ctx, ref, images.SynchronousDelete())
		check(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: config.ConfigureHosts(ctx, config.HostOptions{})})
	imgs := load()
	check(c.Push(ctx, ref, imgs[0].Target, containerd.WithResolver(resolver)))
	remove()

	dir := filepath.Join(work, "pull")
	check(os.MkdirAll(dir, 0o755))
	check(os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("name: benchpull\nservices:\n  noise:\n    image: "+ref+"\n"), 0o644))

	floorPull := measure(func() {
		_, err := c.Pull(ctx, ref, containerd.WithResolver(resolver), containerd.WithPullUnpack)
		check(err)
		remove()
	})
	pull := measure(func() {
		mustRunIn(dir, *bin, "pull", "-q")
		remove()
	})
	floorLoad := measure(func() {
		for _, i := range load() {
			check(containerd.NewImage(c, i).Unpack(ctx, "overlayfs"))
		}
		remove()
	})
	gcLoad := measure(func() {
		mustRun(*bin, "image", "load", "-i", archivePath)
		remove()
	})
	load()
	out := filepath.Join(work, "saved.tar")
	floorSave := measure(func() {
		f, err := os.Create(out)
		check(err)
		check(c.Export(ctx, f, archive.WithImage(c.ImageService(), ref), archive.WithPlatform(platforms.DefaultStrict())))
		check(f.Close())
	})
	save := measure(func() { mustRun(*bin, "image", "save", "-o", out, ref) })
	remove()
	label := fmt.Sprintf("%d MiB layer", noiseMiB)
	return []row{
		{name: "floor: containerd client Pull+unpack, " + label, samples: floorPull},
		{name: "gocompose `pull`, " + label, samples: pull, floor: median(floorPull), floorLabel: "client Pull"},
		{name: "floor: containerd client Import+unpack, " + label, samples: floorLoad},
		{name: "gocompose `image load`, " + label, samples: gcLoad, floor: median(floorLoad), floorLabel: "client Import"},
		{name: "floor: containerd client Export, " + label, samples: floorSave},
		{name: "gocompose `image save`, " + label, samples: save, floor: median(floorSave), floorLabel: "client Export"},
	}
}

func median(s []time.Duration) time.Duration { return row{samples: s}.median() }

// noiseArchive writes an OCI archive of an image named ref whose layer is
// noiseMiB of random bytes.
func noiseArchive(ref string) string {
	rootfs := filepath.Join(work, "noise-rootfs.tar")
	f, err := os.Create(rootfs)
	check(err)
	tw := tar.NewWriter(f)
	check(tw.WriteHeader(&tar.Header{Name: "noise.bin", Mode: 0o644, Size: noiseMiB << 20}))
	_, err = io.CopyN(tw, rand.Reader, noiseMiB<<20)
	check(err)
	check(tw.Close())
	check(f.Close())
	path := filepath.Join(work, "noise.tar")
	out, err := os.Create(path)
	check(err)
	check(testimage.FromRootfs(out, ref, rootfs, []string{"true"}))
	check(out.Close())
	return path
}
