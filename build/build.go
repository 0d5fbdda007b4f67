package build

import (
	"strings"

	"github.com/moby/buildkit/util/gitutil"
)

// Request is one image build, from a service's build: section.
type Request struct {
	Context          string // absolute directory
	Dockerfile       string // relative to Context, or absolute
	DockerfileInline string
	Args             map[string]string
	Target           string
	Labels           map[string]string
	Tags             []string // fully qualified names; the first is the service image
	NoCache          bool
	// NoCacheFilter are the stages built without the cache (when NoCache
	// is not set), as buildx's --no-cache-filter.
	NoCacheFilter []string
	Pull          bool
	CacheFrom     []string // type=local,src=DIR | type=inline
	CacheTo       []string // type=local,dest=DIR | type=inline
	// AdditionalContexts maps a name to a directory or docker-image://REF.
	AdditionalContexts map[string]string
	Network            string // host | none | ""
	ShmSize            int64
	ExtraHosts         []string // host=ip
	Ulimits            []string // name=soft:hard
	Platform           string
	// Provenance attaches a provenance attestation: "mode=min" or
	// "mode=max" ("" for none).
	Provenance string
	// Secrets are the build secrets by id (RUN --mount=type=secret).
	Secrets map[string][]byte
	// SSH are the SSH agents or keys forwarded by id (RUN --mount=type=ssh);
	// no paths means $SSH_AUTH_SOCK.
	SSH []SSH
	// Entitlements are the insecure entitlements the build is granted
	// (security.insecure for RUN --security=insecure, network.host for
	// RUN --network=host), as buildx's --allow grants them.
	Entitlements []string
}

// Entitlements are what a build may be granted: the insecure entitlements
// the started buildkitd allows.
// (BuildKit's entitlements.EntitlementSecurityInsecure and
// EntitlementNetworkHost).
var Entitlements = []string{"security.insecure", "network.host"}

// SSH is one forwarded agent (a socket) or set of key files.
type SSH struct {
	ID    string
	Paths []string
}

// Result is what a build produced.
type Result struct {
	Digest string // image manifest digest
}

// CheckResult is what BuildKit's Dockerfile linter found.
type CheckResult struct {
	Warnings int
	// Text is the linter's own report: each warning with its rule, URL
	// and the lines it is about.
	Text string
	// Error is a Dockerfile the linter could not read (a parse error).
	Error string
}

// IsRemoteContext reports whether a build context is a git repository or
// an http(s) URL (a tarball or a Dockerfile), which BuildKit fetches
// itself, rather than a directory.
func IsRemoteContext(c string) bool {
	return strings.Contains(c, "://") || strings.HasPrefix(c, "git@")
}

// IsGitSSH reports a git context fetched over ssh, for which Docker's
// builder forwards the default ssh agent unless the build names others
// (buildx's buildflags.IsGitSSH).
func IsGitSSH(c string) bool {
	u, err := gitutil.ParseURL(c)
	return err == nil && u.Scheme == gitutil.SSHProtocol
}
