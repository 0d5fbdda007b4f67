package buildkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/internal/helper"
)

// Serve answers one build.HelperRequest read from stdin, BuildKit's display
// on progress and the build.HelperReply on out: what gocompose-build does.
// The build is cancelled with ctx or when stdin ends (gocompose is gone).
func Serve(ctx context.Context, out, progress io.Writer) error {
	var q build.HelperRequest
	ctx, cancel, err := helper.Request(ctx, &q)
	if err != nil {
		return err
	}
	defer cancel()
	var r build.HelperReply
	if err := answer(ctx, q, &r, progress); err != nil {
		r.Error, r.NotFound = err.Error(), errors.Is(err, errdefs.ErrNotFound)
	}
	return json.NewEncoder(out).Encode(r)
}

func answer(ctx context.Context, q build.HelperRequest, r *build.HelperReply, progress io.Writer) error {
	switch q.Op {
	case "build", "check", "prune":
	default:
		return fmt.Errorf("unknown operation %q", q.Op)
	}
	c, err := Client(ctx, q.Daemon)
	if err != nil {
		return err
	}
	defer c.Close()
	switch q.Op {
	case "build":
		r.Result, err = Build(ctx, c, q.Request, progress, q.Progress)
	case "check":
		r.Check, err = Check(ctx, c, q.Request)
	default:
		r.Freed, err = Prune(ctx, c, q.All)
	}
	return err
}
