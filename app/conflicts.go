package app

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
	"github.com/gocompose/gocompose/spec"
)

// maxContainerID is containerd's limit on identifiers, which container
// names are here.
const maxContainerID = 76

// checkConflicts refuses, before anything is made, what would conflict on
// the host once created: a host port published twice (by two services, or
// by two replicas of one), a port number out of range, a container_name
// two services share, and a container name longer than containerd allows.
// Each error names the file, line, service and field.
func checkConflicts(p *types.Project, sel *types.Project, scale map[string]int) error {
	type binding struct {
		service, proto, ip string
		port               int
	}
	var published []binding
	names := map[string]string{} // container_name -> service
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		svc := sel.Services[name]
		replicas := spec.Replicas(svc)
		if n, ok := scale[name]; ok {
			replicas = n
		}
		if svc.ContainerName != "" {
			if other, ok := names[svc.ContainerName]; ok {
				return spec.At(p, fmt.Errorf("container name %q is already used by service %s", svc.ContainerName, other),
					"services", name, "container_name")
			}
			names[svc.ContainerName] = name
		}
		longest := svc.ContainerName
		if longest == "" {
			longest = fmt.Sprintf("%s-%s-%d", p.Name, name, max(replicas, 1))
		}
		if len(longest) > maxContainerID {
			field := "container_name"
			if svc.ContainerName == "" {
				field = ""
			}
			return spec.At(p, fmt.Errorf("service %s: container name %q is %d characters long; containerd allows at most %d (shorten the project or service name, or set a shorter container_name)",
				name, longest, len(longest), maxContainerID), nonEmpty("services", name, field)...)
		}
		for i, port := range svc.Ports {
			if port.Published == "" {
				continue
			}
			if strings.Contains(port.Published, "-") {
				return spec.At(p, fmt.Errorf("service %s: a published port range (%q) is not supported by gocompose yet", name, port.Published),
					"services", name, "ports", strconv.Itoa(i))
			}
			n, err := strconv.Atoi(port.Published)
			if err != nil || n < 1 || n > 65535 {
				return spec.At(p, fmt.Errorf("service %s: published port %q is not a port number (1-65535)", name, port.Published),
					"services", name, "ports", strconv.Itoa(i))
			}
			proto := port.Protocol
			if proto == "" {
				proto = "tcp"
			}
			if replicas > 1 {
				return spec.At(p, fmt.Errorf("service %s: host port %d/%s cannot be published by %d replicas (leave the host port out to get one each)", name, n, proto, replicas),
					"services", name, "ports", strconv.Itoa(i))
			}
			ip := port.HostIP
			if ip == "" || ip == "::" {
				ip = "0.0.0.0"
			}
			for _, b := range published {
				// The same port and protocol on the same address, or
				// on every address (0.0.0.0) against any.
				if b.port == n && b.proto == proto && (b.ip == ip || b.ip == "0.0.0.0" || ip == "0.0.0.0") {
					return spec.At(p, fmt.Errorf("service %s: host port %d/%s is already published by service %s", name, n, proto, b.service),
						"services", name, "ports", strconv.Itoa(i))
				}
			}
			published = append(published, binding{service: name, proto: proto, ip: ip, port: n})
		}
	}
	return nil
}

// nonEmpty drops empty path elements.
func nonEmpty(path ...string) []string {
	return slices.DeleteFunc(path, func(s string) bool { return s == "" })
}

// checkHostPorts refuses, before any network or container is made, a fixed
// host port that something else on the host holds: a listening socket or
// another container's port mapping. Ports this project's own containers
// publish are theirs to keep (a recreate takes them over). A race between
// two commands is still settled when the port is published, under the
// host-wide port lock.
func checkHostPorts(p *types.Project, sel *types.Project, observed []runtime.Container) error {
	held := map[string]bool{}
	for _, c := range observed {
		ports, err := labels.PortsOf(c.Labels)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
		for _, port := range ports {
			held[port.Protocol+"/"+strconv.Itoa(port.HostPort)] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sel.Services)) {
		for i, port := range sel.Services[name].Ports {
			n, err := strconv.Atoi(port.Published)
			if err != nil || n == 0 {
				continue // ephemeral, or refused by checkConflicts
			}
			proto := cmp.Or(port.Protocol, "tcp")
			if held[proto+"/"+port.Published] {
				continue
			}
			if _, err := claimPort(cmp.Or(port.HostIP, "0.0.0.0"), n, proto); err != nil {
				return spec.At(p, fmt.Errorf("service %s: %w", name, err), "services", name, "ports", strconv.Itoa(i))
			}
		}
	}
	return nil
}
