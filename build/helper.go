package build

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/gocompose/gocompose/internal/helper"
)

// HelperName is the executable that runs builds: it links BuildKit's
// client (package build/buildkit), which the commands that build nothing
// then do not load (it cost the CLI about 5 MiB of resident pages).
const HelperName = "gocompose-build"

// A HelperRequest is one operation, sent as JSON on the helper's stdin.
type HelperRequest struct {
	Op       string  `json:"op"` // build, check or prune
	Daemon   Daemon  `json:"daemon"`
	Request  Request `json:"request"`
	Progress string  `json:"progress,omitempty"` // BuildKit's display mode (build)
	All      bool    `json:"all,omitempty"`      // prune all unused cache
}

// A HelperReply is the helper's answer, JSON on its stdout; BuildKit's
// progress goes to its stderr.
type HelperReply struct {
	Result Result      `json:"result"`
	Check  CheckResult `json:"check"`
	Freed  int64       `json:"freed"`
	Error  string      `json:"error,omitempty"`
	// NotFound says the error is containerd's or BuildKit's not-found
	// (an image that lost content while it was exported).
	NotFound bool `json:"notFound,omitempty"`
}

// Helper runs builds in gocompose-build against Daemon's buildkitd (started
// by the helper when none answers).
type Helper struct {
	Exe    string // the helper's path; "" finds it (FindHelper)
	Daemon Daemon
}

// FindHelper looks for gocompose-build beside the running executable, then
// on PATH.
func FindHelper() (string, error) { return helper.Find(HelperName) }

// Build builds req, BuildKit's display on out in mode.
func (h Helper) Build(ctx context.Context, req Request, out io.Writer, mode string) (Result, error) {
	r, err := h.call(ctx, HelperRequest{Op: "build", Daemon: h.Daemon, Request: req, Progress: mode}, out)
	return r.Result, err
}

// Check runs BuildKit's Dockerfile checks on req's build.
func (h Helper) Check(ctx context.Context, req Request) (CheckResult, error) {
	r, err := h.call(ctx, HelperRequest{Op: "check", Daemon: h.Daemon, Request: req}, nil)
	return r.Check, err
}

// Prune removes build cache (all unused with all) and returns the bytes
// freed.
func (h Helper) Prune(ctx context.Context, all bool) (int64, error) {
	r, err := h.call(ctx, HelperRequest{Op: "prune", Daemon: h.Daemon, All: all}, nil)
	return r.Freed, err
}

// helperError is an error the helper replied with; errors.Is finds
// errdefs.ErrNotFound in it when the helper said so.
type helperError struct {
	msg      string
	notFound bool
}

func (e *helperError) Error() string { return e.msg }

func (e *helperError) Unwrap() error {
	if e.notFound {
		return errdefs.ErrNotFound
	}
	return nil
}

// call runs the helper once for q, its stderr to progress (nil: kept for
// the error when it fails without a reply).
func (h Helper) call(ctx context.Context, q HelperRequest, progress io.Writer) (HelperReply, error) {
	exe := h.Exe
	if exe == "" {
		var err error
		if exe, err = FindHelper(); err != nil {
			return HelperReply{}, fmt.Errorf("%w: builds run in it", err)
		}
	}
	var r HelperReply
	if err := helper.Call(ctx, exe, q, &r, progress); err != nil {
		return r, err
	}
	if r.Error != "" {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		return r, &helperError{msg: r.Error, notFound: r.NotFound}
	}
	return r, nil
}
