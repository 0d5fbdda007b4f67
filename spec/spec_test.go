package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/golden"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(p *types.Project) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	})
}

func TestDiscoveryWalksUpAndNamesFromDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "My_App")
	write(t, root, map[string]string{
		"docker-compose.yml": "services:\n  web:\n    image: busybox\n",
		"sub/deeper/.keep":   "",
	})
	t.Chdir(filepath.Join(root, "sub", "deeper"))
	p, err := Load(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "my_app" {
		t.Errorf("project name %q, want my_app (normalised directory name)", p.Name)
	}
	if p.WorkingDir != root {
		t.Errorf("working dir %q, want %q", p.WorkingDir, root)
	}
}

func TestComposeYamlWinsOverDockerCompose(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"compose.yaml":       "services:\n  new:\n    image: busybox\n",
		"docker-compose.yml": "services:\n  old:\n    image: busybox\n",
	})
	p, err := Load(t.Context(), Options{ProjectDirectory: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p); !slices.Equal(got, []string{"new"}) {
		t.Errorf("services %v, want [new]", got)
	}
}

func TestProjectNamePrecedence(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"compose.yaml": "name: fromfile\nservices:\n  a:\n    image: busybox\n"})
	f := []string{filepath.Join(dir, "compose.yaml")}
	p, err := Load(t.Context(), Options{Files: f})
	if err != nil || p.Name != "fromfile" {
		t.Fatalf("name: %v %v", p, err)
	}
	t.Setenv("COMPOSE_PROJECT_NAME", "fromenv")
	if p, _ = Load(t.Context(), Options{Files: f}); p.Name != "fromenv" {
		t.Errorf("COMPOSE_PROJECT_NAME ignored: %s", p.Name)
	}
	if p, _ = Load(t.Context(), Options{Files: f, ProjectName: "flag"}); p.Name != "flag" {
		t.Errorf("-p ignored: %s", p.Name)
	}
}

func TestMergeInterpolationEnvFileProfilesExtendsInclude(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		".env":      "TAG=1.0\nGREETING=hello\n",
		"other.env": "TAG=2.0\n",
		"compose.yaml": `name: merged
include:
  - inc/compose.yaml
services:
  web:
    extends:
      file: base.yaml
      service: base
    image: busybox:${TAG}
    environment:
      GREETING: ${GREETING}
      DEFAULTED: ${NOPE:-fallback}
  debug:
    image: busybox
    profiles: [debug]
`,
		"override.yaml":    "services:\n  web:\n    command: [echo, overridden]\n",
		"base.yaml":        "services:\n  base:\n    image: base\n    working_dir: /base\n    labels: {from: base}\n",
		"inc/compose.yaml": "services:\n  included:\n    image: busybox\n    command: [\"true\"]\n",
	})
	files := []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "override.yaml")}
	p, err := Load(t.Context(), Options{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p); !slices.Equal(got, []string{"included", "web"}) {
		t.Errorf("services %v, want [included web] (debug is behind a profile)", got)
	}
	golden.Assert(t, "merged.yaml", mustYAML(t, p, dir))

	p, err = Load(t.Context(), Options{Files: files, EnvFiles: []string{filepath.Join(dir, "other.env")}, Profiles: []string{"debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Services["web"].Image != "busybox:2.0" {
		t.Errorf("--env-file: image %s", p.Services["web"].Image)
	}
	if _, ok := p.Services["debug"]; !ok {
		t.Errorf("--profile debug did not enable debug")
	}
	t.Setenv("COMPOSE_PROFILES", "debug")
	if p, _ = Load(t.Context(), Options{Files: files}); p.Services["debug"].Name == "" {
		t.Errorf("COMPOSE_PROFILES ignored")
	}
}

func mustYAML(t *testing.T, p *types.Project, dir string) []byte {
	t.Helper()
	b, err := p.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), dir, "/PROJECT"))
}

func TestErrorsNameFileLineAndField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml  string
		want        []string
		unsupported bool
	}{
		{"unknown-key", "services:\n  web:\n    image: busybox\n    comand: x\n", []string{"compose.yaml:4:", "services.web.comand", "not allowed"}, false},
		{"bad-type", "services:\n  web:\n    image: busybox\n    ports: 5\n", []string{"compose.yaml:4:", "services.web.ports"}, false},
		{"bad-size", "services:\n  web:\n    image: busybox\n    mem_limit: lots\n", []string{"compose.yaml:4:", "mem_limit"}, false},
		{"yaml-syntax", "services:\n  web:\n    image: [busybox\n", []string{"compose.yaml:", "yaml:"}, false},
		{"unsupported-field", "services:\n  web:\n    image: busybox\n    use_api_socket: true\n", []string{"compose.yaml:4:", `service "web"`, `field "use_api_socket"`, "without a Docker daemon"}, true},
		{"userns-mode", "services:\n  web:\n    image: busybox\n    userns_mode: private\n", []string{"compose.yaml:4:", `service "web"`, `field "userns_mode"`, "only host"}, false},
		{"isolation", "services:\n  web:\n    image: busybox\n    isolation: hyperv\n", []string{"compose.yaml:4:", `field "isolation"`, "only 'default'"}, false},
		{"external-secret", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s:\n    external: true\n", []string{"compose.yaml:4:", `service "web"`, `field "secrets.s"`, "swarm"}, true},
		{"volume-driver-opts", "services:\n  web:\n    image: busybox\n    volumes:\n      - data:/v\nvolumes:\n  data:\n    driver_opts:\n      type: nfs\n      o: addr=10.0.0.1\n", []string{"compose.yaml:4:", `field "volumes"`, "missing device"}, false},
		{"unsupported-restart-window", "services:\n  web:\n    image: busybox\n    deploy:\n      restart_policy:\n        window: 10s\n", []string{"compose.yaml:6:", "deploy.restart_policy.window"}, true},
		{"rollback-of-a-rollback", "services:\n  web:\n    image: busybox\n    deploy:\n      rollback_config:\n        failure_action: rollback\n", []string{"compose.yaml:6:", "deploy.rollback_config.failure_action", "cannot roll back"}, false},
		{"rollback-monitor", "services:\n  web:\n    image: busybox\n    deploy:\n      rollback_config:\n        monitor: 5s\n", []string{"compose.yaml:6:", "deploy.rollback_config.monitor"}, true},
		{"update-ratio", "services:\n  web:\n    image: busybox\n    deploy:\n      update_config:\n        max_failure_ratio: 2\n", []string{"compose.yaml:6:", "deploy.update_config.max_failure_ratio"}, false},
		{"runtime-name", "services:\n  web:\n    image: busybox\n    runtime: nvidia\n", []string{"compose.yaml:4:", `field "runtime"`, "containerd runtime"}, true},
		{"gpu-options", "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - {capabilities: [gpu], options: {virtualization: \"false\"}}\n", []string{"compose.yaml:", "devices.0.options"}, true},
		{"device-rule", "services:\n  web:\n    image: busybox\n    device_cgroup_rules: [\"c 1:3 xyz\"]\n", []string{"compose.yaml:4:", "device_cgroup_rules"}, false},
		{"network-ipv6-subnet", "services:\n  web:\n    image: busybox\nnetworks:\n  default:\n    ipam:\n      config:\n        - subnet: fd00:1::/64\n", []string{"compose.yaml:8:", "networks.default.ipam.config.0.subnet", "enable_ipv6"}, false},
		{"ipv6-address", "services:\n  web:\n    image: busybox\n    networks:\n      n:\n        ipv6_address: fd00:1::5\nnetworks:\n  n:\n", []string{"compose.yaml:", `service "web"`, "networks.n.ipv6_address", "enable_ipv6"}, false},
		{"network-ipv6-only", "services:\n  web:\n    image: busybox\nnetworks:\n  default:\n    enable_ipv6: true\n    enable_ipv4: false\n", []string{"compose.yaml:7:", "enable_ipv4", "IPv6-only"}, true},
		{"provider-on-container", "services:\n  db:\n    image: busybox\n  cloud:\n    provider:\n      type: x\n    depends_on: [db]\n", []string{"compose.yaml:", `service "cloud"`, "depends_on", "container service db"}, true},
		{"provider-with-ports", "services:\n  cloud:\n    provider:\n      type: x\n    ports: [\"80:80\"]\n", []string{"compose.yaml:5:", `service "cloud"`, `field "ports"`, "no container"}, true},
		{"build-entitlement", "services:\n  web:\n    build:\n      context: .\n      entitlements: [device]\n", []string{"compose.yaml:", `service "web"`, "build.entitlements.0", "security.insecure"}, true},
		{"ports-internal", "services:\n  web:\n    image: busybox\n    ports: [\"8080:80\"]\n    networks: [n]\nnetworks:\n  n:\n    internal: true\n", []string{"compose.yaml:4:", `service "web"`, `field "ports"`, "internal networks only"}, false},
		{"subpath-anonymous", "services:\n  web:\n    image: busybox\n    volumes:\n      - {type: volume, target: /v, volume: {subpath: a}}\n", []string{"compose.yaml:4:", `field "volumes"`, "anonymous"}, false},
		{"subpath-outside", "services:\n  web:\n    image: busybox\n    volumes:\n      - {type: volume, source: d, target: /v, volume: {subpath: ../x}}\nvolumes:\n  d:\n", []string{"compose.yaml:4:", `field "volumes"`, "relative path within the volume"}, false},
		{"recursive-readonly-rw", "services:\n  web:\n    image: busybox\n    volumes:\n      - {type: bind, source: /tmp, target: /v, bind: {recursive: readonly}}\n", []string{"compose.yaml:4:", `field "volumes"`, "read_only: true"}, false},
		{"build-isolation", "services:\n  web:\n    build:\n      context: .\n      isolation: hyperv\n", []string{"compose.yaml:", `service "web"`, "build.isolation", "only 'default'"}, false},
		{"network-driver", "services:\n  web:\n    image: busybox\nnetworks:\n  n:\n    driver: overlay\n", []string{"compose.yaml:6:", "networks.n.driver", "overlay"}, true},
		{"network-ipam-driver", "services:\n  web:\n    image: busybox\nnetworks:\n  n:\n    ipam:\n      driver: dhcp\n", []string{"compose.yaml:7:", "networks.n.ipam.driver", "dhcp"}, true},
		{"network-driver-opt", "services:\n  web:\n    image: busybox\nnetworks:\n  n:\n    driver_opts:\n      com.docker.network.bridge.enable_icc: \"false\"\n", []string{"compose.yaml:7:", "enable_icc"}, true},
		{"log-option", "services:\n  web:\n    image: busybox\n    logging:\n      driver: json-file\n      options:\n        compress: \"true\"\n", []string{"compose.yaml:", "logging.options.compress", "json-file"}, true},
		{"log-driver", "services:\n  web:\n    image: busybox\n    logging:\n      driver: gelf\n", []string{"compose.yaml:", "logging.driver", "gelf"}, true},
		{"ipc-private-donor", "services:\n  db:\n    image: busybox\n  web:\n    image: busybox\n    ipc: service:db\n", []string{"compose.yaml:6:", `field "ipc"`, "shareable"}, false},
		{"pid-mode", "services:\n  web:\n    image: busybox\n    pid: private\n", []string{"compose.yaml:4:", `field "pid"`}, true},
		{"unsupported-network-mode", "services:\n  web:\n    image: busybox\n    network_mode: slirp4netns\n", []string{"compose.yaml:4:", "network_mode"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, dir, map[string]string{"compose.yaml": tc.yaml})
			_, err := Load(t.Context(), Options{ProjectDirectory: dir})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", !tc.unsupported, tc.unsupported)
			}
		})
	}
}

func TestLoadOrNameWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	p, err := LoadOrName(t.Context(), Options{ProjectName: "some_proj"})
	if err != nil || p.Name != "some_proj" {
		t.Fatalf("got %v, %v", p, err)
	}
	if _, err := Load(t.Context(), Options{}); err == nil {
		t.Fatal("Load without a file succeeded")
	}
}

// The project directory's .env applies however the file was found: walking
// up from a subdirectory, or through COMPOSE_FILE from another directory.
func TestDotEnvOfTheProjectDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "app")
	write(t, root, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: busybox:${TAG}\n    environment:\n      MSG: ${MSG:-unset}\n",
		".env":         "TAG=1.36\nMSG=from-dotenv\n",
		"sub/.keep":    "",
	})
	other := t.TempDir()
	for _, tc := range []struct {
		name, cwd, composeFile string
	}{
		{"subdirectory", filepath.Join(root, "sub"), ""},
		{"COMPOSE_FILE", other, filepath.Join(root, "compose.yaml")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.cwd)
			t.Setenv("COMPOSE_FILE", tc.composeFile)
			if tc.composeFile == "" {
				os.Unsetenv("COMPOSE_FILE")
			}
			p, err := Load(t.Context(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			web := p.Services["web"]
			if web.Image != "busybox:1.36" || web.Environment["MSG"] == nil || *web.Environment["MSG"] != "from-dotenv" {
				t.Errorf("image %q, MSG %v: the project's .env was not applied", web.Image, web.Environment["MSG"])
			}
		})
	}
}

// env_file with format: raw is read as docker run --env-file reads it:
// values verbatim, a bare name from the environment.
func TestEnvFileRawFormat(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: busybox\n    env_file:\n      - path: raw.env\n        format: raw\n",
		"raw.env":      "A=$HOME \"quoted\"\nFROM_ENV\n",
	})
	t.Setenv("FROM_ENV", "host-value")
	p, err := Load(t.Context(), Options{Files: []string{filepath.Join(dir, "compose.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	env := p.Services["web"].Environment
	if env["A"] == nil || *env["A"] != `$HOME "quoted"` || env["FROM_ENV"] == nil || *env["FROM_ENV"] != "host-value" {
		t.Errorf("raw env_file: A=%v FROM_ENV=%v", env["A"], env["FROM_ENV"])
	}
}

// compose-go's port syntax errors name only the value; the error says
// where it is written.
func TestPortSyntaxErrorIsLocated(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    ports:\n      - \"8080:80\"\n      - \"70000:80\"\n"})
	_, err := Load(t.Context(), Options{Files: []string{filepath.Join(dir, "compose.yaml")}})
	want := filepath.Join(dir, "compose.yaml") + ":6: services.web.ports.1: service web: invalid hostPort: 70000"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// config's --no-interpolate and --no-path-resolution leave the model as
// written.
func TestLoadWithoutInterpolationOrPaths(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox:${TAG:-1}\n    volumes: [./data:/data]\n"})
	file := filepath.Join(dir, "compose.yaml")
	p, err := LoadUnchecked(t.Context(), Options{Files: []string{file}, NoInterpolate: true, NoPathResolution: true})
	if err != nil {
		t.Fatal(err)
	}
	web := p.Services["web"]
	if web.Image != "busybox:${TAG:-1}" {
		t.Errorf("interpolated without interpolation: %q", web.Image)
	}
	if len(web.Volumes) != 1 || web.Volumes[0].Source != "./data" {
		t.Errorf("paths resolved without resolution: %+v", web.Volumes)
	}
	p, err = LoadUnchecked(t.Context(), Options{Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	if web := p.Services["web"]; web.Image != "busybox:1" || web.Volumes[0].Source != filepath.Join(dir, "data") {
		t.Errorf("default load: %q %q", web.Image, web.Volumes[0].Source)
	}
}

// An env_file missing for one service fails only the commands that use it.
func TestMissingEnvFileOfAnotherService(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: busybox\n    env_file: web.env\n  tool:\n    image: busybox\n    env_file: tool.env\n",
		"web.env":      "A=1\n",
	})
	p, err := Load(t.Context(), Options{ProjectDirectory: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnvError(p.Services["web"]); err != nil {
		t.Errorf("web: %v", err)
	}
	if v := p.Services["web"].Environment["A"]; v == nil || *v != "1" {
		t.Errorf("web's env file not applied: %v", p.Services["web"].Environment)
	}
	if err := EnvError(p.Services["tool"]); err == nil || !strings.Contains(err.Error(), "tool.env") {
		t.Errorf("tool: %v", err)
	}
}

// label_file's labels join the service's, the service's own winning.
func TestLabelFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: busybox\n    label_file: web.labels\n    labels:\n      tier: front\n",
		"web.labels":   "tier=back\nteam=core\n",
	})
	p, err := Load(t.Context(), Options{Files: []string{filepath.Join(dir, "compose.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	if l := p.Services["web"].Labels; l["team"] != "core" || l["tier"] != "front" {
		t.Errorf("labels: %v", l)
	}
}
