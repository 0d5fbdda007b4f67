// Command gocompose-build runs gocompose's image builds: it reads one
// request (JSON) on stdin, drives buildkitd through BuildKit's client
// (starting buildkitd when none answers), shows BuildKit's progress on
// stderr and writes its reply (JSON) on stdout. gocompose runs it for
// build, up --build, build --check and builder prune, so that the other
// commands do not load BuildKit's client.
package main

import (
	"github.com/gocompose/gocompose/build/buildkit"
	"github.com/gocompose/gocompose/internal/helper"
)

func main() { helper.Main("gocompose-build", buildkit.Answer) }
