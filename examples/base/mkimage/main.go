// Command mkimage wraps a rootfs tarball into an OCI image archive that
// `gocompose image load` reads: the offline stand-in for `docker import`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gocompose/gocompose/internal/testimage"
)

func main() {
	rootfs := flag.String("rootfs", "", "rootfs tarball (uncompressed)")
	name := flag.String("name", "localhost/python-flask:bookworm", "image name")
	out := flag.String("o", "", "output OCI archive")
	flag.Parse()
	if *rootfs == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: mkimage -rootfs ROOTFS.tar -name NAME -o IMAGE.tar")
		os.Exit(2)
	}
	f, err := os.Create(*out + ".tmp")
	if err == nil {
		err = testimage.FromRootfs(f, *name, *rootfs, []string{"python3"})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(*out+".tmp", *out)
	}
	if err != nil {
		os.Remove(*out + ".tmp")
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
