package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/gocompose/gocompose/internal/golden"
	"github.com/gocompose/gocompose/model"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// svc loads one service "s" from a YAML body through compose-go, so that
// the tests see the model exactly as a compose file produces it.
func svc(t *testing.T, body string) types.ServiceConfig {
	t.Helper()
	var b strings.Builder
	b.WriteString("services:\n  s:\n    image: busybox\n")
	for _, l := range strings.Split(body, "\n") {
		if l != "" {
			b.WriteString("    " + l + "\n")
		}
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  "/project",
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(b.String())}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("p", true) })
	if err != nil {
		t.Fatalf("load %q: %v", body, err)
	}
	return p.Services["s"]
}

func apply(t *testing.T, opt oci.SpecOpts) *oci.Spec {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	s := &oci.Spec{}
	if err := opt(ctx, nil, &containers.Container{ID: "c"}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSpecOptsGolden applies each field's SpecOpts to an empty spec and
// compares the resulting OCI JSON with testdata/spec-<name>.json.
func TestSpecOptsGolden(t *testing.T) {
	t.Parallel()
	img := ocispec.ImageConfig{
		Entrypoint: []string{"/entry"}, Cmd: []string{"default-cmd"},
		Env: []string{"PATH=/img/bin", "FROM_IMAGE=1"}, WorkingDir: "/srv",
	}
	bindSrc := t.TempDir()
	cases := []struct {
		name string
		opt  oci.SpecOpts
	}{
		{"args-image-defaults", withArgs(svc(t, ""), img)},
		{"args-command", withArgs(svc(t, "command: [run, fast]"), img)},
		{"args-entrypoint-drops-image-cmd", withArgs(svc(t, "entrypoint: [/bin/sh, -c]"), img)},
		{"args-init", withArgs(svc(t, "command: sleep 1\ninit: true"), img)},
		{"environment", withEnvironment(svc(t, "environment: [B=2, A=1, UNSET_IN_ENV, FROM_IMAGE=over]"), img)},
		{"working-dir-image", withWorkingDir(svc(t, ""), img)},
		{"working-dir-service", withWorkingDir(svc(t, "working_dir: /app"), img)},
		{"hostname-domainname", withHostname(svc(t, "hostname: web\ndomainname: example.test"), "abc")},
		{"hostname-default", withHostname(svc(t, ""), "0123456789ab")},
		{"tty", withTTY(svc(t, "tty: true"))},
		{"init", withInit(svc(t, "init: true"), "/usr/bin/tini-static")},
		{"caps-default", withCapabilities(svc(t, ""))},
		{"caps-add-drop", withCapabilities(svc(t, "cap_add: [NET_ADMIN, sys_time]\ncap_drop: [CAP_MKNOD, NET_RAW]"))},
		{"caps-drop-all-add-one", withCapabilities(svc(t, "cap_drop: [ALL]\ncap_add: [CHOWN]"))},
		{"read-only", withReadOnly(svc(t, "read_only: true"))},
		{"tmpfs", withTmpfs(svc(t, "tmpfs: [/run, \"/cache:size=1m,mode=0700\"]"))},
		{"shm-size", withShmSize(svc(t, "shm_size: 256m"))},
		{"ulimits", withUlimits(svc(t, "ulimits:\n  nproc: 64\n  nofile: {soft: 1024, hard: 2048}"))},
		{"sysctls", withSysctls(svc(t, "sysctls: {net.core.somaxconn: 1024}"))},
		{"memory", withMemory(svc(t, "mem_limit: 64m\nmem_reservation: 32m"))},
		{"memory-deploy", withMemory(svc(t, "deploy: {resources: {limits: {memory: 128m, cpus: \"0.5\", pids: 50}}}"))},
		{"cpu", withCPU(svc(t, "cpus: 1.5\ncpu_shares: 512\ncpuset: 0-1"))},
		{"pids-limit", withPidsLimit(svc(t, "pids_limit: 100"))},
		{"device-cgroup-rules", withDeviceCgroupRules(svc(t, "device_cgroup_rules: [\"c 1:3 mr\", \"a *:* rwm\", \"b 8:* r\"]"))},
		{"oom-score-adj", withOomScoreAdj(svc(t, "oom_score_adj: 500"))},
		{"no-new-privileges-seccomp-unconfined", withSecurityOpts(svc(t, "security_opt: [\"no-new-privileges:true\", seccomp=unconfined]"))},
		{"network-none", withNetworkMode(svc(t, "network_mode: none"), "")},
		{"network-host", withNetworkMode(svc(t, "network_mode: host"), "")},
		{"network-netns", withNetworkMode(svc(t, ""), "/run/gocompose/netns/ns/c")},
		{"etc-files", withEtcFiles("/var/lib/gocompose/containers/ns/c")},
		{"cgroup-parent", withCgroupParent(svc(t, "cgroup_parent: /edge.slice"), "c")},
		{"memory-extras", withMemoryExtras(svc(t, "memswap_limit: 128m\nmem_swappiness: 10\noom_kill_disable: true"))},
		{"cpu-extras", withCPUExtras(svc(t, "cpu_period: 50000\ncpu_quota: 25000\ncpu_rt_period: 1000000\ncpu_rt_runtime: 950000"))},
		{"annotations", withAnnotations(svc(t, "annotations: {org.example.team: edge}"))},
		{"blkio-weight", withBlkio(svc(t, "blkio_config: {weight: 300}"))},
		// bind.recursive writable: the same options on any host (rro is
		// TestBindOptions's).
		{"volumes-bind-and-tmpfs", withMounts(mounts(t, "volumes:\n  - {type: bind, source: "+bindSrc+", target: /data, read_only: true, bind: {recursive: writable}}\n  - {type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: 0700}}"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := apply(t, tc.opt)
			for i := range s.Mounts {
				if s.Mounts[i].Source == bindSrc {
					s.Mounts[i].Source = "BIND_SOURCE"
				}
			}
			b, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "spec-"+tc.name+".json", append(b, '\n'))
		})
	}
}

func TestDefaultSeccompUnlessOptedOut(t *testing.T) {
	t.Parallel()
	s := apply(t, withSecurityOpts(svc(t, "")))
	if s.Linux == nil || s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Fatalf("default seccomp profile not applied: %+v", s.Linux)
	}
	if s := apply(t, withSecurityOpts(svc(t, "privileged: true"))); s.Linux != nil && s.Linux.Seccomp != nil {
		t.Fatalf("privileged got a seccomp profile")
	}
	prof := filepath.Join(t.TempDir(), "prof.json")
	if err := os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_LOG"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := apply(t, withSecurityOpts(svc(t, "security_opt: [\"seccomp="+prof+"\"]"))); s.Linux.Seccomp.DefaultAction != "SCMP_ACT_LOG" {
		t.Fatalf("seccomp file not used: %+v", s.Linux.Seccomp)
	}
	ctx := namespaces.WithNamespace(context.Background(), "test")
	err := withSecurityOpts(svc(t, "security_opt: [\"label=type:x\"]"))(ctx, nil, &containers.Container{}, &oci.Spec{})
	if err == nil {
		t.Fatal("unsupported security_opt accepted")
	}
}

func TestPrivileged(t *testing.T) {
	t.Parallel()
	s := apply(t, oci.Compose(withPrivileged(svc(t, "privileged: true"))))
	if s.Linux == nil || s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Fatalf("privileged keeps masked paths: %+v", s.Linux)
	}
	if r := s.Linux.Resources; r == nil || len(r.Devices) == 0 || !r.Devices[0].Allow || r.Devices[0].Access != "rwm" {
		t.Fatalf("privileged does not allow all devices: %+v", s.Linux.Resources)
	}
}

// mounts lowers the service's volumes as app does for bind and tmpfs.
func mounts(t *testing.T, yaml string) []model.Mount {
	t.Helper()
	var out []model.Mount
	for _, v := range svc(t, yaml).Volumes {
		m, err := model.FromVolume(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestBindSourceMissing(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")
	ctx := namespaces.WithNamespace(context.Background(), "test")
	err := withMounts(mounts(t, "volumes: [{type: bind, source: "+missing+", target: /x, bind: {create_host_path: false}}]"))(ctx, nil, &containers.Container{}, &oci.Spec{})
	if err == nil {
		t.Fatal("missing bind source with create_host_path false accepted")
	}
	created := filepath.Join(t.TempDir(), "made")
	apply(t, withMounts(mounts(t, "volumes: [\""+created+":/x\"]")))
	if st, err := os.Stat(created); err != nil || !st.IsDir() {
		t.Fatalf("create_host_path did not create %s: %v", created, err)
	}
}

func TestStopTimeout(t *testing.T) {
	t.Parallel()
	five := 5 * time.Second
	cases := []struct {
		labels   map[string]string
		override *time.Duration
		want     time.Duration
	}{
		{nil, nil, 10 * time.Second},
		{map[string]string{"gocompose.stop-timeout": "1.5"}, nil, 1500 * time.Millisecond},
		{map[string]string{"gocompose.stop-timeout": "1.5"}, &five, five},
	}
	for _, c := range cases {
		if got := StopTimeout(c.labels, c.override); got != c.want {
			t.Errorf("StopTimeout(%v, %v) = %v, want %v", c.labels, c.override, got, c.want)
		}
	}
}

// pid, ipc and uts host leave the container in the host's namespaces (and
// without a hostname of its own); the others stay.
func TestHostNamespaces(t *testing.T) {
	t.Parallel()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	s := &oci.Spec{Hostname: "c", Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
		{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
	}}}
	if err := withNamespaces(svc(t, "pid: host\nipc: host\nuts: host"))(ctx, nil, &containers.Container{ID: "c"}, s); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, n := range s.Linux.Namespaces {
		left = append(left, string(n.Type))
	}
	if strings.Join(left, ",") != "mount,network" || s.Hostname != "" {
		t.Errorf("namespaces %v, hostname %q", left, s.Hostname)
	}
}

// bind.recursive as Docker's daemon applies it: rro for read-only binds
// where the host can, plain ro where it cannot (an error for readonly).
func TestBindOptions(t *testing.T) {
	saved := recursivelyReadOnly
	t.Cleanup(func() { recursivelyReadOnly = saved })
	for _, can := range []bool{true, false} {
		recursivelyReadOnly = func() error {
			if can {
				return nil
			}
			return errors.New("rro is not supported")
		}
		for _, c := range []struct {
			recursive string
			ro        bool
			want      string // "" for an error
		}{
			{"", false, "rbind rw"},
			{"", true, map[bool]string{true: "rbind ro rro", false: "rbind ro"}[can]},
			{"enabled", true, map[bool]string{true: "rbind ro rro", false: "rbind ro"}[can]},
			{"writable", true, "rbind ro"},
			{"disabled", true, "bind ro"},
			{"disabled", false, "bind rw"},
			{"readonly", true, map[bool]string{true: "rbind ro rro", false: ""}[can]},
		} {
			got, err := bindOptions(model.Mount{Type: model.Bind, Target: "/t", ReadOnly: c.ro, Recursive: c.recursive})
			if (err != nil) != (c.want == "") || strings.Join(got, " ") != c.want {
				t.Errorf("rro possible %v, recursive %q, read-only %v: %v %v, want %q", can, c.recursive, c.ro, got, err, c.want)
			}
		}
	}
}
