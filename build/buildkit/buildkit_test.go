package buildkit

import (
	"slices"
	"testing"

	"github.com/gocompose/gocompose/build"
	"github.com/moby/buildkit/util/entitlements"
)

// The entitlements package build names without linking BuildKit are
// BuildKit's own.
func TestEntitlementsAreBuildKits(t *testing.T) {
	want := []string{string(entitlements.EntitlementSecurityInsecure), string(entitlements.EntitlementNetworkHost)}
	if !slices.Equal(build.Entitlements, want) {
		t.Errorf("build.Entitlements = %v, BuildKit's are %v", build.Entitlements, want)
	}
}
