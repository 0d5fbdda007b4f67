package runtime

import (
	goruntime "runtime"
	"strings"
	"testing"
)

func TestCheckPlatform(t *testing.T) {
	host := "linux/" + goruntime.GOARCH
	for _, ok := range []string{"", host, "linux"} {
		if err := CheckPlatform(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	foreign := "linux/s390x"
	if goruntime.GOARCH == "s390x" {
		foreign = "linux/amd64"
	}
	for _, bad := range []string{foreign, "windows/" + goruntime.GOARCH} {
		err := CheckPlatform(bad)
		if err == nil || !strings.Contains(err.Error(), "cannot run on this") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := CheckPlatform("not/a/valid/platform/at/all"); err == nil {
		t.Error("an invalid platform is accepted")
	}
}

func TestDangling(t *testing.T) {
	for name, want := range map[string]bool{
		"docker.io/library/busybox:latest":                       false,
		"localhost:5000/app:1":                                   false,
		"localhost:5000/app@sha256:" + strings.Repeat("a", 64):   true,
		"localhost:5000/app:1@sha256:" + strings.Repeat("a", 64): false,
		"sha256:" + strings.Repeat("b", 64):                      true,
	} {
		if got := dangling(name); got != want {
			t.Errorf("dangling(%q) = %v", name, got)
		}
	}
}
