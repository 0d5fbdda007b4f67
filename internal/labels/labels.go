// Package labels names the container labels gocompose writes; they are the same
// keys Docker Compose writes, so tools that read those labels keep working.
package labels

import (
	"encoding/json"
	"fmt"
)

const (
	// Project is the compose project name.
	Project = "com.docker.compose.project"
	// Volume is the key of a volume in the compose file, on the volume.
	Volume = "com.docker.compose.volume"
	// Service is the compose service name.
	Service = "com.docker.compose.service"
	// ContainerNumber is the replica index, starting at 1.
	ContainerNumber = "com.docker.compose.container-number"
	// OneOff is "True" for containers made by `run`, else "False".
	OneOff = "com.docker.compose.oneoff"
	// ConfigHash is the hash of the service config the container was made from.
	ConfigHash = "com.docker.compose.config-hash"
	// ConfigFiles is the comma-separated list of compose files.
	ConfigFiles = "com.docker.compose.project.config_files"
	// WorkingDir is the project directory.
	WorkingDir = "com.docker.compose.project.working_dir"
	// DependsOn lists dependencies as service:condition:restart, comma-separated.
	DependsOn = "com.docker.compose.depends_on"
	// Image is the image digest or reference the container was made from.
	Image = "com.docker.compose.image"
	// Version is the version of the tool that made the container.
	Version = "com.docker.compose.version"
	// InstanceID is the container's 64-hex ID, new for every container
	// made (a recreated container gets another, a restarted one keeps it),
	// as Docker's container IDs are; `ps -q` and ps's ID show it.
	InstanceID = "gocompose.id"
	// ContainerName is the container's compose name (containerd IDs equal it).
	ContainerName = "gocompose.container-name"
	// ExitCode records the exit code after gocompose deleted the task of a
	// stopped container, since containerd forgets it with the task.
	ExitCode = "gocompose.exit-code"
	// FinishedAt records when the container last stopped (RFC 3339).
	FinishedAt = "gocompose.finished-at"
	// StopSignal and StopTimeout carry stop_signal/stop_grace_period so that
	// stop works from labels alone.
	StopSignal = "gocompose.stop-signal"
	// StopTimeout is the grace period in seconds.
	StopTimeout = "gocompose.stop-timeout"
	// Hooks holds the service's post_start and pre_stop hooks as JSON.
	Hooks = "gocompose.hooks"
)

// Networking labels, written by `up` and read by the supervisor to rebuild
// DNS records.
const (
	// Networks holds a JSON list of Endpoint: where the container is attached.
	Networks = "gocompose.networks"
	// NetNS is the path of the container's network namespace.
	NetNS = "gocompose.netns"
	// NetNSShared is "True" when the namespace belongs to another container
	// (network_mode service:/container:), so removal must not delete it.
	NetNSShared = "gocompose.netns-shared"
	// Ports holds a JSON list of published ports.
	Ports = "gocompose.ports"
	// DNS lists the service's own dns: servers, comma-separated.
	DNS = "gocompose.dns"
	// DNSWithheld lists, comma-separated, the names of the Networks label
	// that DNS does not answer for this container: while a start-first
	// update runs, the new container is not yet, and the old one no longer,
	// answered by its service name and aliases.
	DNSWithheld = "gocompose.dns-withheld"
)

// Endpoint is one attachment of a container to a network, as stored in the
// Networks label.
type Endpoint struct {
	Network string   `json:"network"`
	IfName  string   `json:"ifname"`
	IP      string   `json:"ip"`
	IP6     string   `json:"ip6,omitempty"` // on an IPv6 network
	MAC     string   `json:"mac,omitempty"`
	Names   []string `json:"names"`
}

// Port is one published port, as stored in the Ports label.
type Port struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// EndpointsOf reads a container's Networks label; without one it has no
// endpoints. A label that does not parse is an error naming it.
func EndpointsOf(l map[string]string) ([]Endpoint, error) { return decode[Endpoint](l, Networks) }

// PortsOf reads a container's Ports label; without one it publishes
// nothing. A label that does not parse is an error naming it.
func PortsOf(l map[string]string) ([]Port, error) { return decode[Port](l, Ports) }

// decode reads the JSON list a label holds ("" is none).
func decode[T any](l map[string]string, key string) ([]T, error) {
	var out []T
	if v := l[key]; v != "" {
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf("label %s: %w", key, err)
		}
	}
	return out, nil
}

// Container labels of gocompose's own.
const (
	// StartedAt is when the container's task last started (RFC 3339).
	StartedAt = "gocompose.started-at"
	// Volumes lists the volume directories the container mounts.
	Volumes = "gocompose.volumes"
	// AnonymousVolume marks an anonymous volume, as Docker does.
	AnonymousVolume = "com.docker.volume.anonymous"
)

// Lifecycle labels for restart policies.
const (
	// UserStopped is "True" once a user stopped or killed the container, so
	// its restart policy leaves it stopped; a start sets it to "False".
	UserStopped = "gocompose.user-stopped"
	// Restart is the policy: always, unless-stopped, on-failure[:N].
	Restart = "gocompose.restart"
	// RestartDelay is the first back-off delay (Go duration).
	RestartDelay = "gocompose.restart-delay"
	// RestartCount counts restarts made by the supervisor.
	RestartCount = "gocompose.restart-count"
	// State is the state directory of the gocompose that made the
	// container: only the supervisor of that directory manages it (several
	// gocompose installations may share one containerd).
	State = "gocompose.state"
)
