// Package model is the resolved desired state of each container gocompose
// makes, between compose-go's project and the OCI spec: app builds it once
// per command (the image resolved by digest, every mount resolved to a host
// path, labels complete), runtime lowers it, and nothing is read again from
// the compose file or the image store on the way. It does no I/O.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is a service's image as resolved once for the command.
type Image struct {
	Ref    string // normalized name: docker.io/library/busybox:latest
	Digest string // manifest (or index) digest
	// Config is the image's entrypoint, cmd, environment, working
	// directory and user, which the service's own settings override.
	Config ocispec.ImageConfig
	// Healthcheck is the image's HEALTHCHECK; nil when it has none.
	Healthcheck *Healthcheck
}

// Healthcheck is an image's HEALTHCHECK in Docker's form (Test is
// ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"]).
type Healthcheck struct {
	Test          []string      `json:"Test"`
	Interval      time.Duration `json:"Interval"`
	Timeout       time.Duration `json:"Timeout"`
	StartPeriod   time.Duration `json:"StartPeriod"`
	StartInterval time.Duration `json:"StartInterval"`
	Retries       int           `json:"Retries"`
}

// MountType is what a Mount mounts.
type MountType string

const (
	Bind  MountType = "bind"  // a host path: bind mounts, volumes, secrets, configs
	Tmpfs MountType = "tmpfs" // a fresh tmpfs
	// Image is an image's filesystem, read-only (type: image): Source is
	// the image reference, Subpath the directory of it to mount.
	ImageMount MountType = "image"
)

// Mount is one filesystem mount of the container, its source resolved:
// named and anonymous volumes are binds of their directories, secrets and
// configs binds of their files in the project's tmpfs, volumes_from binds
// of the source container's mounts.
type Mount struct {
	Type     MountType
	Source   string // host path (Bind)
	Target   string
	ReadOnly bool
	// Propagation of a bind (rprivate when empty).
	Propagation string
	// Recursive is bind.recursive: "" or enabled (submounts too, and
	// read-only recursively where the kernel and runtime can), disabled
	// (no submounts), writable (read-only only at the top), readonly
	// (read-only recursively, or an error).
	Recursive string `json:",omitempty"`
	// CreateHostPath makes a missing bind source as a directory, as
	// Docker does for the short syntax.
	CreateHostPath bool
	// Size in bytes and Mode of a tmpfs (0: the kernel's defaults).
	Size int64
	Mode uint32
	// Subpath of an Image mount, or of a volume's directory (a Bind of
	// it: volume.subpath), mounted instead of the whole.
	Subpath string `json:",omitempty"`
}

// CopyUp is an empty volume directory to seed from the image's content at
// Target, as Docker does on a volume's first use.
type CopyUp struct {
	Target  string
	HostDir string
}

// Etc is what the container's /etc/hosts and /etc/resolv.conf say.
type Etc struct {
	// Addresses of the container itself, written with its hostname.
	Addresses   []string
	Nameservers []string
	Search      []string
	Options     []string
}

// Log is the json-file rotation setting of one container.
type Log struct {
	// Driver is "none" when nothing is to be kept; "" for the drivers
	// that keep the json-file log.
	Driver  string `json:"driver,omitempty"`
	MaxSize int64  `json:"max_size,omitempty"` // bytes; 0 = unlimited
	MaxFile int    `json:"max_file,omitempty"` // files kept, including the current
	// Syslog, for the syslog driver, is where each line is sent as well
	// (the json-file log is kept as Docker's dual logging keeps its cache,
	// so logs still reads it).
	Syslog *Syslog `json:"syslog,omitempty"`
	// Journald, for the journald driver: the fields every entry carries.
	Journald *Journald `json:"journald,omitempty"`
	// Fluentd, for the fluentd driver: where records go.
	Fluentd *Fluentd `json:"fluentd,omitempty"`
}

// Journald is the journald driver's settings.
type Journald struct {
	Tag    string            `json:"tag"`              // a template until the container is made
	Fields map[string]string `json:"fields,omitempty"` // CONTAINER_ID, CONTAINER_NAME, … once made
}

// Fluentd is the fluentd driver's target.
type Fluentd struct {
	Network string `json:"network"` // tcp or unix
	Address string `json:"address"` // host:port or a socket path
	Tag     string `json:"tag"`     // a template until the container is made
	Async   bool   `json:"async,omitempty"`
	// Record are the fields every record carries besides log and source
	// (container_id, container_name), once made.
	Record map[string]string `json:"record,omitempty"`
}

// Syslog is the syslog driver's target.
type Syslog struct {
	Network  string `json:"network,omitempty"` // udp, tcp, unix, unixgram; "" the local syslog
	Address  string `json:"address,omitempty"`
	Facility int    `json:"facility"` // a log/syslog facility (Docker's default: daemon)
	Tag      string `json:"tag"`      // a template until the container is made, then its value
}

// Container is one container as gocompose will create it.
type Container struct {
	ID string
	// Service is the service as compose-go loaded it, for the settings
	// runtime lowers as they are (process, resources, security). Its
	// image, volumes, secrets and configs are not read: Image and
	// Mounts hold them resolved.
	Service types.ServiceConfig
	Image   Image
	// Labels are all of the container's labels: the service's and
	// Docker Compose's.
	Labels map[string]string
	Mounts []Mount
	CopyUp []CopyUp
	// IpcFrom and PidFrom name the containers (containerd IDs) whose IPC
	// and PID namespaces this one joins (ipc/pid: service:X or
	// container:X), resolved when each task starts.
	IpcFrom, PidFrom string
	// NetNS is the network namespace to join, made and attached by the
	// caller; empty means host or a fresh loopback-only one
	// (network_mode).
	NetNS string
	Etc   Etc
	Log   Log
}

// ConfigHash is the com.docker.compose.config-hash of a service's
// containers: the service's configuration (less what changes no
// container: scale, depends_on, profiles, pull_policy, replicas) and its
// image's digest, so a rebuilt or re-tagged image recreates the container
// as a changed configuration does.
func ConfigHash(svc types.ServiceConfig, imageDigest string) (string, error) {
	o := svc
	o.Scale = nil
	o.DependsOn = nil
	o.Profiles = nil
	o.PullPolicy = ""
	if svc.Deploy != nil {
		d := *svc.Deploy
		d.Replicas = nil
		o.Deploy = &d
	}
	if svc.Build != nil && len(svc.Build.SSH) > 0 {
		// compose-go's SSHKey.MarshalJSON writes invalid JSON for ID=PATH.
		b := *svc.Build
		b.SSH = nil
		for _, k := range svc.Build.SSH {
			b.SSH = append(b.SSH, types.SSHKey{ID: k.ID + "=" + k.Path})
		}
		o.Build = &b
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("hash service %s: %w", svc.Name, err)
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	if imageDigest == "" {
		return h, nil
	}
	sum = sha256.Sum256([]byte(h + imageDigest))
	return hex.EncodeToString(sum[:]), nil
}

// FromVolume lowers a bind or tmpfs entry of a service's volumes (relative
// sources were resolved against the project directory by compose-go).
// Named and anonymous volumes are the caller's to resolve to their
// directories; other types are refused.
func FromVolume(v types.ServiceVolumeConfig) (Mount, error) {
	switch v.Type {
	case types.VolumeTypeBind:
		m := Mount{Type: Bind, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly, CreateHostPath: true}
		if v.Bind != nil {
			m.Propagation = v.Bind.Propagation
			m.CreateHostPath = bool(v.Bind.CreateHostPath)
			m.Recursive = v.Bind.Recursive
		}
		return m, nil
	case types.VolumeTypeTmpfs:
		m := Mount{Type: Tmpfs, Target: v.Target}
		if v.Tmpfs != nil {
			m.Size = int64(v.Tmpfs.Size)
			m.Mode = v.Tmpfs.Mode
		}
		return m, nil
	case types.VolumeTypeImage:
		m := Mount{Type: ImageMount, Source: v.Source, Target: v.Target, ReadOnly: true}
		if v.Image != nil {
			m.Subpath = v.Image.SubPath
		}
		return m, nil
	}
	return Mount{}, fmt.Errorf("volumes: type %s is not supported by gocompose yet", v.Type)
}
