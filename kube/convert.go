// Package kube converts a compose project to Kubernetes objects (`bridge
// convert`), keeping what makes the project work on one host: start order
// and health gating (init containers that wait, readiness and liveness
// probes), service names (a Service per service, answering as compose DNS
// does), shared volumes (one claim per named volume) and the isolation of
// compose networks (NetworkPolicies). What has no Kubernetes form is
// reported, service and field, never dropped silently. It depends on
// compose-go and k8s.io/api only: no daemon, no cluster.
package kube

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/bridge"
	"github.com/gocompose/gocompose/spec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Publish modes for published ports.
const (
	PublishLoadBalancer = bridge.PublishLoadBalancer
	PublishNodePort     = bridge.PublishNodePort
)

// DefaultWaitImage runs the init containers that wait for dependencies.
const DefaultWaitImage = bridge.DefaultWaitImage

// Options steer the conversion (bridge.Options: the CLI sends them to
// gocompose-bridge without linking this package).
type Options = bridge.Options

// Object is one converted object and the service it comes from ("" for
// the project's own: namespace, volumes, policies).
type Object struct {
	Service string
	Obj     runtime.Object
}

// Result is the conversion: objects in a stable order and what could not
// be converted.
type Result struct {
	Namespace string
	Objects   []Object
	// Warnings are "service web: ulimits: …" lines, sorted.
	Warnings []string
}

// Warned lists the warnings about one service ("" for the project's).
func (r *Result) Warned(service string) []string {
	var out []string
	prefix := "service " + service + ": "
	for _, w := range r.Warnings {
		if service == "" && !strings.HasPrefix(w, "service ") || service != "" && strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// Labels every converted pod carries; its Services select on them.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	// labelNetworkPrefix + network key marks the pods on a compose network.
	labelNetworkPrefix = "network.gocompose.io/"
)

type converter struct {
	p    *types.Project
	o    Options
	ns   string
	res  *Result
	warn map[string]bool
	// waits: some pod waits through the API (RBAC objects are needed).
	waits bool
}

// Convert turns the project into Kubernetes objects.
func Convert(p *types.Project, o Options) (*Result, error) {
	o.Publish = cmp.Or(o.Publish, PublishLoadBalancer)
	if o.Publish != PublishLoadBalancer && o.Publish != PublishNodePort {
		return nil, fmt.Errorf("publish %q: want %s or %s", o.Publish, PublishLoadBalancer, PublishNodePort)
	}
	o.WaitImage = cmp.Or(o.WaitImage, DefaultWaitImage)
	c := &converter{p: p, o: o, ns: dnsLabel(cmp.Or(o.Namespace, p.Name)), warn: map[string]bool{}}
	if errs := validation.IsDNS1123Label(c.ns); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", c.ns, strings.Join(errs, "; "))
	}
	c.res = &Result{Namespace: c.ns}
	c.add("", &corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: c.ns}})
	names := slices.Sorted(maps.Keys(p.Services))
	if err := c.checkNames(names); err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := c.service(p.Services[name]); err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
	}
	if err := c.volumes(); err != nil {
		return nil, err
	}
	if err := c.secretsAndConfigs(); err != nil {
		return nil, err
	}
	c.policies()
	if c.waits {
		c.rbac()
	}
	slices.Sort(c.res.Warnings)
	return c.res, nil
}

func (c *converter) add(service string, obj runtime.Object) {
	c.res.Objects = append(c.res.Objects, Object{Service: service, Obj: obj})
}

// warnf records what has no Kubernetes form, once.
func (c *converter) warnf(service, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if service != "" {
		msg = "service " + service + ": " + msg
	}
	if !c.warn[msg] {
		c.warn[msg] = true
		c.res.Warnings = append(c.res.Warnings, msg)
	}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func (c *converter) meta(name string, lbls map[string]string) metav1.ObjectMeta {
	l := map[string]string{LabelProject: c.p.Name}
	maps.Copy(l, lbls)
	return metav1.ObjectMeta{Name: name, Namespace: c.ns, Labels: l}
}

func (c *converter) selector(service string) map[string]string {
	return map[string]string{LabelProject: c.p.Name, LabelService: service}
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes a name a DNS-1123 label: lower case, other characters as
// '-', at most 63 characters.
func dnsLabel(s string) string {
	s = strings.Trim(notLabel.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

// checkNames refuses service names that would become the same object
// name, and says which ones change (other services' URLs use the name).
func (c *converter) checkNames(names []string) error {
	seen := map[string]string{}
	for _, n := range names {
		k := dnsLabel(n)
		if errs := validation.IsDNS1035Label(k); len(errs) > 0 {
			return fmt.Errorf("service %s: name %q cannot be a Kubernetes Service name: %s", n, k, strings.Join(errs, "; "))
		}
		if other, ok := seen[k]; ok {
			return fmt.Errorf("services %s and %s both become %q in Kubernetes", other, n, k)
		}
		seen[k] = n
		if k != n {
			c.warnf(n, "name: resolves as %q in Kubernetes (Service names are DNS labels)", k)
		}
	}
	return nil
}

// handled are the service fields the conversion maps (some only in part:
// what it cannot map in them is warned about where they are read).
var handled = map[string]bool{
	"name": true, "image": true, "build": true, "command": true, "entrypoint": true,
	"environment": true, "env_file": true, "working_dir": true, "user": true,
	"cap_add": true, "cap_drop": true, "read_only": true, "privileged": true, "tmpfs": true,
	"stop_grace_period": true, "restart": true, "deploy": true, "scale": true, "cpus": true,
	"mem_limit": true, "mem_reservation": true, "labels": true, "annotations": true,
	"healthcheck": true, "depends_on": true, "ports": true, "expose": true, "networks": true,
	"volumes": true, "secrets": true, "configs": true, "hostname": true, "init": true,
	"stdin_open": true, "tty": true, "sysctls": true, "extra_hosts": true, "shm_size": true,
	"pull_policy": true, "platform": true, "dns_search": true, "dns_opt": true,
	"network_mode": true, "pid": true, "ipc": true, "profiles": true, "attach": true, "gpus": true, "pre_start": true,
}

// why says, for fields with no Kubernetes form, what the user should know.
var why = map[string]string{
	"container_name": "pods are named by their workload",
	"ulimits":        "Kubernetes sets no per-container ulimits",
	"logging":        "the cluster's logging collects container output",
	"dns":            "pods use the cluster's DNS (dnsPolicy None would lose service names)",
	"links":          "every service is reachable by its Service name",
	"init":           "",
	"develop":        "watch is a local development loop",
	"pids_limit":     "Kubernetes limits PIDs per node, not per container",
	"security_opt":   "",
	"devices":        "devices need a device plugin",
	"cgroup_parent":  "",
	"mac_address":    "",
	"oom_score_adj":  "",
}

// unhandled warns about the service's fields the conversion does not map.
func (c *converter) unhandled(svc types.ServiceConfig) error {
	fields, err := spec.SetFields(svc)
	if err != nil {
		return err
	}
	for _, k := range fields {
		if handled[k] {
			continue
		}
		if reason := why[k]; reason != "" {
			c.warnf(svc.Name, "%s: not converted (%s)", k, reason)
		} else {
			c.warnf(svc.Name, "%s: not converted (no Kubernetes form)", k)
		}
	}
	return nil
}
