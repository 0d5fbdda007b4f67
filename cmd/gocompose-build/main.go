// Command gocompose-build runs gocompose's image builds: it reads one
// request (JSON) on stdin, drives buildkitd through BuildKit's client
// (starting buildkitd when none answers), shows BuildKit's progress on
// stderr and writes its reply (JSON) on stdout. gocompose runs it for
// build, up --build, build --check and builder prune, so that the other
// commands do not load BuildKit's client.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gocompose/gocompose/build/buildkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := buildkit.Serve(ctx, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gocompose-build: %v\n", err)
		os.Exit(1)
	}
}
