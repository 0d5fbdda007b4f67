package kube

import (
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// networksOf are the compose networks the service is on, sorted.
func (c *converter) networksOf(svc types.ServiceConfig) []string {
	if svc.NetworkMode != "" && svc.NetworkMode != "bridge" {
		return nil
	}
	return slices.Sorted(maps.Keys(svc.Networks))
}

// services makes the Services of a service. Its name answers as compose
// DNS does: a headless Service, so the name resolves to the pods' own
// addresses and every port is reachable (`http://backend:5000` works even
// when the file publishes nothing), ready pods only. Network aliases get
// Services of their own; published ports a LoadBalancer or NodePort
// Service `<name>-published`.
func (c *converter) services(svc types.ServiceConfig) {
	if svc.NetworkMode == "host" {
		return
	}
	name := dnsLabel(svc.Name)
	ports := containerPorts(svc)
	var sports []corev1.ServicePort
	for _, p := range ports {
		sports = append(sports, corev1.ServicePort{Name: portName(p), Port: p.port, TargetPort: intstr.FromInt32(p.port), Protocol: p.proto})
	}
	headless := func(n string) *corev1.Service {
		return &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: c.meta(n, map[string]string{LabelService: svc.Name}),
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: c.selector(svc.Name), Ports: sports}}
	}
	c.add(svc.Name, headless(name))
	var aliases []string
	for _, net := range c.networksOf(svc) {
		if cfg := svc.Networks[net]; cfg != nil {
			aliases = append(aliases, cfg.Aliases...)
		}
	}
	slices.Sort(aliases)
	for _, a := range slices.Compact(aliases) {
		k := dnsLabel(a)
		switch {
		case len(validation.IsDNS1035Label(k)) > 0 || k != a:
			c.warnf(svc.Name, "networks: alias %q: not converted (a Service name must be a DNS label)", a)
		case c.isService(k):
			c.warnf(svc.Name, "networks: alias %q: not converted (a service has that name)", a)
		default:
			c.add(svc.Name, headless(k))
		}
	}
	var pub []corev1.ServicePort
	for _, p := range ports {
		if !c.published(svc, p) {
			continue
		}
		sp := corev1.ServicePort{Name: portName(p), Port: p.port, TargetPort: intstr.FromInt32(p.port), Protocol: p.proto}
		if p.published != 0 {
			sp.Port = p.published
		}
		if c.o.Publish == PublishNodePort && p.published != 0 {
			if p.published >= 30000 && p.published <= 32767 {
				sp.NodePort = p.published
			} else {
				c.warnf(svc.Name, "ports: %d: outside the NodePort range 30000-32767; the cluster picks the node port", p.published)
			}
		}
		if p.hostIP != "" && p.hostIP != "0.0.0.0" {
			c.warnf(svc.Name, "ports: host address %s: not converted (a Service listens on every node address)", p.hostIP)
		}
		pub = append(pub, sp)
	}
	if len(pub) > 0 {
		s := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: c.meta(name+"-published", map[string]string{LabelService: svc.Name}),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: c.selector(svc.Name), Ports: pub}}
		if c.o.Publish == PublishNodePort {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}
		c.add(svc.Name, s)
	}
}

// published says whether the port is one of ports: (not only exposed).
func (c *converter) published(svc types.ServiceConfig, p port) bool {
	for _, sp := range svc.Ports {
		if int32(sp.Target) == p.port && protocol(sp.Protocol) == p.proto {
			return true
		}
	}
	return false
}

func (c *converter) isService(name string) bool {
	for n := range c.p.Services {
		if dnsLabel(n) == name {
			return true
		}
	}
	return false
}

func portName(p port) string {
	return fmt.Sprintf("%s-%d", map[corev1.Protocol]string{corev1.ProtocolTCP: "tcp", corev1.ProtocolUDP: "udp", corev1.ProtocolSCTP: "sctp"}[p.proto], p.port)
}

// policies isolate compose networks as `up` does on one host: the
// project's pods take traffic only from pods sharing a network with them
// (and, on their published ports, from anywhere); a service on internal
// networks only reaches the namespace (and the cluster's DNS).
func (c *converter) policies() {
	project := map[string]string{LabelProject: c.p.Name}
	c.add("", &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: c.meta(dnsLabel(c.p.Name)+"-default-deny", nil),
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: project}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}})
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		svc := c.p.Services[name]
		nets := c.networksOf(svc)
		for _, n := range nets {
			used[n] = true
		}
		var pub []networkingv1.NetworkPolicyPort
		for _, p := range containerPorts(svc) {
			if c.published(svc, p) {
				pub = append(pub, networkingv1.NetworkPolicyPort{Protocol: ptr(p.proto), Port: ptr(intstr.FromInt32(p.port))})
			}
		}
		if len(pub) > 0 {
			c.add(name, &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: c.meta(dnsLabel(name)+"-published", nil),
				Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: c.selector(name)},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: pub}}}})
		}
		internal := len(nets) > 0
		for _, n := range nets {
			internal = internal && c.p.Networks[n].Internal
		}
		if internal {
			dns := []networkingv1.NetworkPolicyPort{
				{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(53))},
				{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(53))},
			}
			c.add(name, &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: c.meta(dnsLabel(name)+"-internal", nil),
				Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: c.selector(name)},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress: []networkingv1.NetworkPolicyEgressRule{
						{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
						{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}}}, Ports: dns},
					}}})
		}
	}
	for _, n := range slices.Sorted(maps.Keys(used)) {
		on := map[string]string{labelNetworkPrefix + dnsLabel(n): "true"}
		c.add("", &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: c.meta("network-"+dnsLabel(n), nil),
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: on},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: on}}}}}}})
		cfg := c.p.Networks[n]
		if cfg.Driver != "" && cfg.Driver != "bridge" {
			c.warnf("", "network %s: driver %s: not converted (pods share the cluster network; the policy keeps it apart)", n, cfg.Driver)
		}
		if len(cfg.Ipam.Config) > 0 {
			c.warnf("", "network %s: ipam: not converted (the cluster assigns pod addresses)", n)
		}
	}
}

// waitAccount is the service account of pods that wait for dependencies.
func (c *converter) waitAccount() string { return dnsLabel(c.p.Name) + "-depends-on" }

// rbac lets the waiting init containers read pods and jobs, nothing more.
func (c *converter) rbac() {
	name := c.waitAccount()
	c.add("", &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: c.meta(name, nil)})
	c.add("", &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: c.meta(name, nil),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch"}},
		}})
	c.add("", &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: c.meta(name, nil),
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: c.ns}}})
}
