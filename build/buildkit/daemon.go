package buildkit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gocompose/gocompose/build"
	"github.com/gocompose/gocompose/internal/daemon"
	"github.com/gocompose/gocompose/internal/lock"
	bk "github.com/moby/buildkit/client"
)

// Client connects to d's buildkitd, starting it (detached: own session, output
// to a log file) when none answers. A lock makes concurrent commands start
// one instance. A buildkitd started with other arguments (by an older
// gocompose) is stopped and started again.
func Client(ctx context.Context, d build.Daemon) (*bk.Client, error) {
	if c, err := dial(ctx, d); err == nil {
		if d.Current() {
			return c, nil
		}
		c.Close()
	}
	bin, err := build.FindBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.Dir(), 0o700); err != nil {
		return nil, err
	}
	l, err := lock.Project(ctx, d.Dir(), "start")
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	if c, err := dial(ctx, d); err == nil {
		if d.Current() {
			return c, nil
		}
		c.Close()
		if err := d.Stop(); err != nil {
			return nil, fmt.Errorf("restart buildkitd with new arguments: %w", err)
		}
	}
	root := d.CacheRoot()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(d.Dir(), "buildkitd.log")
	_ = os.Remove(d.Socket())
	pid, err := daemon.Start(bin, d.Args(root), logPath)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.PidFile(), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.ArgsFile(), []byte(strings.Join(d.Args(root), "\n")), 0o644); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := dial(ctx, d)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("buildkitd did not answer within 20s (see %s): %w", logPath, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func dial(ctx context.Context, d build.Daemon) (*bk.Client, error) {
	if _, err := os.Stat(d.Socket()); err != nil {
		return nil, err
	}
	c, err := bk.New(ctx, "unix://"+d.Socket())
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Info(pctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
