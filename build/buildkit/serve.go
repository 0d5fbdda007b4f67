package buildkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/build"
)

// Answer runs one build.HelperRequest, BuildKit's display on stderr: what
// gocompose-build does (helper.Main).
func Answer(ctx context.Context, q build.HelperRequest) build.HelperReply {
	var r build.HelperReply
	if err := answer(ctx, q, &r, os.Stderr); err != nil {
		r.Error, r.NotFound = err.Error(), errors.Is(err, errdefs.ErrNotFound)
	}
	return r
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
