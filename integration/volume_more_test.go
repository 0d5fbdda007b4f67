package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/moby/sys/mountinfo"
)

func mountedAt(path string) bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	return strings.Contains(string(b), " "+path+" ")
}

// A local volume with driver_opts type none, o bind is the host directory:
// data written in the container lands there, and down -v removes the
// volume without touching the directory's files.
func TestVolumeDriverOptsBind(t *testing.T) {
	requires(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "keep.txt"), []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := project(t, "optbind", `services:
  app:
    image: busybox
    command: `+idle+`
    volumes:
      - hostdata:/data
volumes:
  hostdata:
    driver_opts:
      type: none
      o: bind
      device: `+host+`
`)
	gc(t, dir, "up", "-d")
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/data/keep.txt"); r.stdout != "precious\n" {
		t.Errorf("host file in the volume: %s", r)
	}
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo from-container > /data/new.txt")
	if b, err := os.ReadFile(filepath.Join(host, "new.txt")); err != nil || string(b) != "from-container\n" {
		t.Errorf("file written in the container, on the host: %q %v", b, err)
	}
	r := gc(t, dir, "volume", "inspect", "optbind_hostdata")
	for _, want := range []string{`"com.docker.compose.project": "optbind"`, `"com.docker.compose.volume": "hostdata"`, `"device": "` + host + `"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("volume inspect lacks %s:\n%s", want, r.stdout)
		}
	}
	volDir := filepath.Join(root, "volumes", "optbind_hostdata", "_data")
	gc(t, dir, "down", "-t", "0")
	if mountedAt(volDir) {
		t.Errorf("down left %s mounted with no container using it", volDir)
	}
	gc(t, dir, "up", "-d")
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/data/new.txt"); r.stdout != "from-container\n" {
		t.Errorf("the volume after down and up: %s", r)
	}
	gc(t, dir, "down", "-v", "-t", "0")
	for _, f := range []string{"keep.txt", "new.txt"} {
		if _, err := os.Stat(filepath.Join(host, f)); err != nil {
			t.Errorf("down -v lost the host directory's %s: %v", f, err)
		}
	}
	if mountedAt(volDir) {
		t.Errorf("down -v left %s mounted", volDir)
	}
	if _, err := os.Stat(filepath.Dir(volDir)); !os.IsNotExist(err) {
		t.Errorf("down -v left the volume directory: %v", err)
	}
}

// A tmpfs volume (driver_opts type tmpfs with size and uid) is one tmpfs
// shared by the containers that mount it.
func TestVolumeDriverOptsTmpfs(t *testing.T) {
	requires(t)
	dir := project(t, "opttmpfs", `services:
  a:
    image: busybox
    command: `+idle+`
    volumes: ["scratch:/scratch"]
  b:
    image: busybox
    command: `+idle+`
    volumes: ["scratch:/scratch"]
volumes:
  scratch:
    driver_opts:
      type: tmpfs
      device: tmpfs
      o: size=2m,uid=1000
`)
	gc(t, dir, "up", "-d")
	r := gc(t, dir, "exec", "-T", "a", "sh", "-c", "grep ' /scratch ' /proc/mounts; stat -c %u /scratch; echo shared > /scratch/x")
	if !strings.Contains(r.stdout, "tmpfs /scratch tmpfs") || !strings.Contains(r.stdout, "size=2048k") || !strings.Contains(r.stdout, "\n1000\n") {
		t.Errorf("tmpfs volume in a: %s", r)
	}
	if r := gc(t, dir, "exec", "-T", "b", "cat", "/scratch/x"); r.stdout != "shared\n" {
		t.Errorf("b does not see a's file: %s", r)
	}
	volDir := filepath.Join(root, "volumes", "opttmpfs_scratch", "_data")
	// After a reboot nothing is mounted there: start mounts it again.
	gc(t, dir, "stop", "-t", "0")
	if err := syscall.Unmount(volDir, syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	gc(t, dir, "start")
	if r := gc(t, dir, "exec", "-T", "a", "grep", " /scratch ", "/proc/mounts"); !strings.Contains(r.stdout, "tmpfs /scratch tmpfs") {
		t.Errorf("tmpfs volume after it was unmounted and start: %s", r)
	}
	gc(t, dir, "down", "-v", "-t", "0")
	if mountedAt(volDir) {
		t.Errorf("down -v left %s mounted", volDir)
	}
}

// driver_opts with a filesystem type mount it as Docker's local driver
// does (mount -t TYPE -o O DEVICE): ext4 on a block device (a loop device
// the test makes) keeps its data on the device across down -v, and an
// overlay shows its lower directory and writes to its upper one.
func TestVolumeDriverOptsFilesystem(t *testing.T) {
	requires(t)
	for _, tool := range []string{"mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec.Command("sh", "-c", "truncate -s 8M "+img+" && mkfs.ext4 -q -F "+img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
	layers := t.TempDir()
	for _, d := range []string{"lower", "upper", "work"} {
		if err := os.Mkdir(filepath.Join(layers, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(layers, "lower", "base.txt"), []byte("from lower\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := project(t, "optfs", fmt.Sprintf(`services:
  a:
    image: busybox
    command: %s
    volumes: ["disk:/disk", "layered:/layered"]
volumes:
  disk:
    driver_opts:
      type: ext4
      device: %s
  layered:
    driver_opts:
      type: overlay
      device: overlay
      o: lowerdir=%[3]s/lower,upperdir=%[3]s/upper,workdir=%[3]s/work
`, idle, loop, layers))
	gc(t, dir, "up", "-d")
	r := gc(t, dir, "exec", "-T", "a", "sh", "-c", "grep -E ' /(disk|layered) ' /proc/mounts; echo kept > /disk/data; cat /layered/base.txt; echo new > /layered/added.txt")
	if !strings.Contains(r.stdout, loop+" /disk ext4 ") || !strings.Contains(r.stdout, "overlay /layered overlay ") || !strings.Contains(r.stdout, "from lower\n") {
		t.Errorf("filesystem volumes in a: %s", r)
	}
	if b, err := os.ReadFile(filepath.Join(layers, "upper", "added.txt")); err != nil || string(b) != "new\n" {
		t.Errorf("the overlay's upper directory has %q (%v)", b, err)
	}
	gc(t, dir, "down", "-v", "-t", "0")
	for _, v := range []string{"optfs_disk", "optfs_layered"} {
		if d := filepath.Join(root, "volumes", v, "_data"); mountedAt(d) {
			t.Errorf("down -v left %s mounted", d)
		}
	}
	// The data lives on the device: a new volume on it finds it.
	gc(t, dir, "up", "-d")
	if r := gc(t, dir, "exec", "-T", "a", "cat", "/disk/data"); r.stdout != "kept\n" {
		t.Errorf("the device's data after down -v and up: %s", r)
	}
	gc(t, dir, "down", "-v", "-t", "0")

	bad := project(t, "optbad", "services:\n  a:\n    image: busybox\n    volumes: [\"data:/v\"]\nvolumes:\n  data:\n    driver_opts:\n      type: ext4\n      device: /dev/gocompose-no-such-device\n")
	if r := gcRun(bad, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "failed to mount local volume") {
		t.Errorf("a volume on a missing device: %s", r)
	}
	if ps := gc(t, bad, "ps", "-a", "-q").stdout; ps != "" {
		t.Errorf("a container was left by the failed up: %q", ps)
	}
}

func volumeNames(t *testing.T) []string {
	t.Helper()
	return strings.Fields(gc(t, "", "volume", "ls", "-q").stdout)
}

// An anonymous volume keeps its data when the container is recreated, is
// renewed by up -V, is left behind (not reattached) by down, and is
// removed by down -v.
func TestAnonymousVolumes(t *testing.T) {
	requires(t)
	before := volumeNames(t)
	dir := project(t, "anon", `services:
  app:
    image: busybox
    command: `+idle+`
    volumes: ["/cache"]
`)
	gc(t, dir, "up", "-d")
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo warm > /cache/f")
	gc(t, dir, "up", "-d", "--force-recreate")
	if r := gc(t, dir, "exec", "-T", "app", "cat", "/cache/f"); r.stdout != "warm\n" {
		t.Errorf("anonymous volume after recreate: %s", r)
	}
	gc(t, dir, "up", "-d", "--force-recreate", "-V")
	if r := gcRun(dir, nil, "exec", "-T", "app", "cat", "/cache/f"); r.code == 0 {
		t.Errorf("up -V kept the anonymous volume's data: %s", r)
	}
	gc(t, dir, "exec", "-T", "app", "sh", "-c", "echo again > /cache/f")
	gc(t, dir, "down", "-t", "0")
	gc(t, dir, "up", "-d")
	if r := gcRun(dir, nil, "exec", "-T", "app", "cat", "/cache/f"); r.code == 0 {
		t.Errorf("a new container after down got the old anonymous volume: %s", r)
	}
	gc(t, dir, "down", "-v", "-t", "0")
	var left []string
	for _, v := range volumeNames(t) {
		if !slices.Contains(before, v) {
			left = append(left, v)
		}
	}
	// The volume down (without -v) left behind, as Docker leaves it.
	if len(left) != 1 {
		t.Fatalf("volumes left after down -v: %v", left)
	}
	if r := gc(t, "", "volume", "inspect", left[0]); !strings.Contains(r.stdout, `"Project": "anon"`) {
		t.Errorf("left-behind anonymous volume: %s", r.stdout)
	}

	// volume prune removes unused anonymous volumes and, without --all,
	// never a named one.
	named := project(t, "prunekeep", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n    volumes: [\"keep:/keep\"]\nvolumes:\n  keep:\n")
	gc(t, named, "up", "-d")
	gc(t, named, "exec", "-T", "app", "sh", "-c", "echo precious > /keep/f")
	gc(t, named, "down", "-t", "0")
	r := gc(t, "", "volume", "prune", "-f")
	if !strings.Contains(r.stdout, left[0]) || strings.Contains(r.stdout, "prunekeep_keep") {
		t.Errorf("volume prune: %s", r.stdout)
	}
	if !slices.Contains(volumeNames(t), "prunekeep_keep") {
		t.Fatal("volume prune without --all removed a named volume")
	}
	r = gc(t, "", "volume", "prune", "-a", "-f")
	if !strings.Contains(r.stdout, "prunekeep_keep") || slices.Contains(volumeNames(t), "prunekeep_keep") {
		t.Errorf("volume prune --all kept the unused named volume: %s", r.stdout)
	}
}

// volumes_from shares a service's named, anonymous and bind mounts (":ro"
// read-only) and a container's by name.
func TestVolumesFrom(t *testing.T) {
	requires(t)
	dir := project(t, "vfrom", `services:
  data:
    image: busybox
    command: `+idle+`
    volumes:
      - shared:/shared
      - /anon
      - ./host:/host
  reader:
    image: busybox
    command: `+idle+`
    volumes_from: ["data:ro"]
  bycontainer:
    image: busybox
    command: `+idle+`
    depends_on: [data]
    volumes_from: ["container:vfrom-data-1"]
volumes:
  shared:
`)
	if err := os.MkdirAll(filepath.Join(dir, "host"), 0o755); err != nil {
		t.Fatal(err)
	}
	gc(t, dir, "up", "-d")
	gc(t, dir, "exec", "-T", "data", "sh", "-c", "echo s > /shared/x; echo a > /anon/x; echo h > /host/x")
	r := gc(t, dir, "exec", "-T", "reader", "cat", "/shared/x", "/anon/x", "/host/x")
	if r.stdout != "s\na\nh\n" {
		t.Errorf("reader sees: %s", r)
	}
	if r := gcRun(dir, nil, "exec", "-T", "reader", "sh", "-c", "echo no > /shared/y"); r.code == 0 {
		t.Errorf("volumes_from :ro allowed a write")
	}
	gc(t, dir, "exec", "-T", "bycontainer", "sh", "-c", "echo c > /anon/y")
	if r := gc(t, dir, "exec", "-T", "data", "cat", "/anon/y"); r.stdout != "c\n" {
		t.Errorf("container: volumes_from write not seen by data: %s", r)
	}
}

// Two projects sharing a volume by name: down -v of one keeps it while the
// other's container mounts it, with a warning; the last down -v removes it.
func TestSharedVolumeKeptWhileInUse(t *testing.T) {
	requires(t)
	yaml := "services:\n  app:\n    image: busybox\n    command: " + idle + "\n    volumes: [\"shared:/shared\"]\nvolumes:\n  shared:\n    name: gc-shared-vol\n"
	a, b := project(t, "sharea", yaml), project(t, "shareb", yaml)
	gc(t, a, "up", "-d")
	gc(t, b, "up", "-d")
	gc(t, a, "exec", "-T", "app", "sh", "-c", "echo kept > /shared/f")
	r := gc(t, a, "down", "-v", "-t", "0")
	if !strings.Contains(r.stderr, "volume gc-shared-vol is in use by") || !strings.Contains(r.stderr, "Volume gc-shared-vol Resource is still in use") {
		t.Errorf("down -v of a shared volume in use: %s", r.stderr)
	}
	if r := gc(t, b, "exec", "-T", "app", "cat", "/shared/f"); r.stdout != "kept\n" {
		t.Fatalf("the other project lost the shared volume's data: %s", r)
	}
	r = gc(t, b, "down", "-v", "-t", "0")
	if !strings.Contains(r.stderr, "Volume gc-shared-vol Removed") {
		t.Errorf("last down -v: %s", r.stderr)
	}
}

// A volume of type image mounts an image's filesystem read-only (a
// subpath of it, or a project service's image by the service's name), as
// Docker does; down leaves no mount and no snapshot behind.
func TestImageVolume(t *testing.T) {
	requiresBuildkit(t)
	dir := project(t, "imgvol", fmt.Sprintf(`services:
  content:
    image: gocompose-it/imgvol-content
    build:
      context: ./content
      dockerfile_inline: "FROM scratch\nCOPY . /\n"
  app:
    image: busybox
    command: %s
    volumes:
      - type: image
        source: content
        target: /mnt/data
        image:
          subpath: data
      - type: image
        source: gocompose-it/imgvol-content
        target: /mnt/all
`, sleeper))
	writeFiles(t, filepath.Join(dir, "content"), map[string]string{"data/hello.txt": "hello from an image\n", "top.txt": "top\n"})
	gc(t, dir, "build", "content")
	gc(t, dir, "up", "-d", "app")
	t.Cleanup(func() { gcRun(dir, nil, "down", "-t", "0") })
	if out := gc(t, dir, "exec", "-T", "app", "cat", "/mnt/data/hello.txt", "/mnt/all/top.txt").stdout; out != "hello from an image\ntop\n" {
		t.Errorf("files of the image volumes: %q", out)
	}
	if r := gcRun(dir, nil, "exec", "-T", "app", "sh", "-c", "echo x > /mnt/all/new"); r.code == 0 {
		t.Errorf("an image volume is writable: %s", r)
	}
	gc(t, dir, "restart", "-t", "0", "app") // mounted again for the new task
	if out := gc(t, dir, "exec", "-T", "app", "cat", "/mnt/data/hello.txt").stdout; out != "hello from an image\n" {
		t.Errorf("after restart: %q", out)
	}
	// A changed image recreates the container that mounts it, as the
	// digest is part of its config hash (as in Docker Compose).
	writeFiles(t, filepath.Join(dir, "content"), map[string]string{"data/hello.txt": "hello again\n"})
	gc(t, dir, "build", "content")
	if r := gc(t, dir, "up", "-d", "app"); !strings.Contains(r.stderr, "Recreated") {
		t.Errorf("up after the volume's image changed did not recreate app:\n%s", r.stderr)
	}
	if out := gc(t, dir, "exec", "-T", "app", "cat", "/mnt/data/hello.txt").stdout; out != "hello again\n" {
		t.Errorf("after the image changed: %q", out)
	}
	gc(t, dir, "down", "-t", "0")
	if ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Join(root, "containers"))); len(ms) > 0 {
		t.Errorf("after down, mounts left: %v", ms[0].Mountpoint)
	}
	c, err := containerd.New(address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	if _, err := c.SnapshotService("overlayfs").Stat(ctx, "imgvol-app-1-image-volume-0"); err == nil {
		t.Error("after down, the image volume's snapshot is still there")
	}
}

// volume.subpath mounts a directory of the volume, resolved when the task
// starts (a job before the service may make it), never leaving the volume
// through a symlink, and fails the start when it is missing; bind.recursive
// decides about submounts: a read-only bind is read-only in its submounts
// too (rro, where the kernel and runc can), writable leaves them writable,
// disabled leaves them out.
func TestVolumeSubpathAndBindRecursive(t *testing.T) {
	requires(t)
	host := t.TempDir()
	sub := filepath.Join(host, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(sub, syscall.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "f"), []byte("in the submount\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := project(t, "subpath", fmt.Sprintf(`services:
  init:
    image: busybox
    command: ["sh", "-c", "mkdir -p /data/app && echo from-init > /data/app/file && ln -s / /data/escape"]
    volumes: ["data:/data"]
  app:
    image: busybox
    command: %[1]s
    depends_on:
      init: {condition: service_completed_successfully}
    volumes:
      - {type: volume, source: data, target: /app, volume: {subpath: app}}
      - {type: bind, source: %[2]s, target: /ro, read_only: true}
      - {type: bind, source: %[2]s, target: /writable, read_only: true, bind: {recursive: writable}}
      - {type: bind, source: %[2]s, target: /flat, bind: {recursive: disabled}}
volumes:
  data:
`, idle, host))
	gc(t, dir, "up", "-d")
	if out := gc(t, dir, "exec", "-T", "app", "sh", "-c", "cat /app/file; ls /app").stdout; out != "from-init\nfile\n" {
		t.Errorf("the volume's subpath app: %q", out)
	}
	// Read-only recursively by default where rro is possible (kernel >= 5.12
	// and runc with rro, as here), writable in the submount with writable.
	if r := gcRun(dir, nil, "exec", "-T", "app", "sh", "-c", "echo x > /ro/sub/g"); r.code == 0 {
		t.Errorf("a read-only bind's submount was writable: %s", r)
	}
	if r := gcRun(dir, nil, "exec", "-T", "app", "sh", "-c", "echo x > /writable/sub/g && cat /writable/sub/f"); r.code != 0 || r.stdout != "in the submount\n" {
		t.Errorf("bind.recursive writable: %s", r)
	}
	if r := gcRun(dir, nil, "exec", "-T", "app", "ls", "/flat/sub"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("bind.recursive disabled shows the submount: %s", r)
	}
	gc(t, dir, "down", "-t", "0")

	// A subpath through a symlink stays inside the volume; a missing one
	// fails the start.
	esc := project(t, "subpathesc", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n    volumes:\n      - {type: volume, source: data, target: /v, volume: {subpath: escape/etc}}\nvolumes:\n  data:\n    name: subpath_data\n    external: true\n")
	gc(t, dir, "up", "-d", "init")
	r := gcRun(esc, nil, "up", "-d")
	if r.code == 0 {
		if out := gc(t, esc, "exec", "-T", "app", "ls", "/v").stdout; strings.Contains(out, "passwd") {
			t.Errorf("a subpath through a symlink reached the host's /etc: %s", out)
		}
	} else if !strings.Contains(r.stderr, "subpath escape/etc") {
		t.Errorf("up with a subpath through a symlink: %s", r)
	}
	gc(t, esc, "down", "-t", "0")
	missing := project(t, "subpathmiss", "services:\n  app:\n    image: busybox\n    command: "+idle+"\n    volumes:\n      - {type: volume, source: data, target: /v, volume: {subpath: nothere}}\nvolumes:\n  data:\n    name: subpath_data\n    external: true\n")
	if r := gcRun(missing, nil, "up", "-d"); r.code == 0 || !strings.Contains(r.stderr, "subpath nothere") {
		t.Errorf("up with a missing subpath: %s", r)
	}
	gc(t, missing, "down", "-t", "0")
	gc(t, dir, "down", "-v", "-t", "0")
	if ms, _ := filepath.Glob(filepath.Join(root, "containers", namespace, "subpath*", "subpaths", "*")); len(ms) > 0 {
		t.Errorf("subpath mount points left: %v", ms)
	}
}
