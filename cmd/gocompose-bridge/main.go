// Command gocompose-bridge runs `gocompose bridge convert`'s conversion: it
// reads one bridge.Request (JSON) on stdin, loads the project handed over,
// converts it to Kubernetes manifests or a Helm chart (package kube, which
// links the Kubernetes API types), writes the files and answers with a
// bridge.Reply (JSON) on stdout. gocompose runs it so that its other
// commands do not load the Kubernetes packages.
package main

import (
	"context"
	"fmt"

	"github.com/gocompose/gocompose/bridge"
	"github.com/gocompose/gocompose/internal/helper"
	"github.com/gocompose/gocompose/kube"
)

func main() {
	helper.Main("gocompose-bridge", func(ctx context.Context, q bridge.Request) bridge.Reply {
		r, err := convert(ctx, q)
		if err != nil {
			r.Error = err.Error()
		}
		return r
	})
}

func convert(ctx context.Context, q bridge.Request) (bridge.Reply, error) {
	p, err := q.Load(ctx)
	if err != nil {
		return bridge.Reply{}, err
	}
	res, err := kube.Convert(p, q.Options)
	if err != nil {
		return bridge.Reply{}, err
	}
	files, err := kube.Files(res, p.Name, q.Format)
	if err != nil {
		return bridge.Reply{}, err
	}
	r := bridge.Reply{Files: len(files), Namespace: res.Namespace, Warnings: res.Warnings}
	if err := kube.Write(q.Output, files); err != nil {
		return r, fmt.Errorf("bridge convert: %w", err)
	}
	return r, nil
}
