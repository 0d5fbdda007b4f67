// Command gocompose-logger is the log driver the containerd shim runs for
// each gocompose container (see package logdriver). gocompose uses it when
// it is installed beside the gocompose binary, and runs itself as the
// driver otherwise.
package main

import (
	"fmt"
	"os"

	"github.com/gocompose/gocompose/logdriver"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == logdriver.Arg {
		logdriver.Run(os.Args[2])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == logdriver.HoldArg {
		logdriver.HoldMain(os.Args[2:])
	}
	fmt.Fprintln(os.Stderr, "gocompose-logger: the log driver the containerd shim runs for gocompose's containers; not for use by hand")
	os.Exit(2)
}
