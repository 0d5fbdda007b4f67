package kube

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// completedBy says whether some service waits for svc with
// service_completed_successfully: svc then runs as a Job.
func (c *converter) completedBy(svc string) bool {
	for _, other := range c.p.Services {
		if d, ok := other.DependsOn[svc]; ok && d.Condition == types.ServiceConditionCompletedSuccessfully {
			return true
		}
	}
	return false
}

func replicas(svc types.ServiceConfig) int32 {
	if svc.Deploy != nil && svc.Deploy.Replicas != nil {
		return int32(*svc.Deploy.Replicas)
	}
	if svc.Scale != nil {
		return int32(*svc.Scale)
	}
	return 1
}

// service converts one service: its workload and Services.
func (c *converter) service(svc types.ServiceConfig) error {
	if err := c.unhandled(svc); err != nil {
		return err
	}
	name := dnsLabel(svc.Name)
	pod, err := c.podSpec(svc)
	if err != nil {
		return err
	}
	lbls, annotations := c.labelsOf(svc)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(lbls), Annotations: annotations},
		Spec:       pod,
	}
	maps.Copy(tmpl.Labels, c.selector(svc.Name))
	for _, net := range c.networksOf(svc) {
		tmpl.Labels[labelNetworkPrefix+dnsLabel(net)] = "true"
	}
	if c.completedBy(svc.Name) {
		job := &batchv1.Job{TypeMeta: typeMeta("batch/v1", "Job"), ObjectMeta: c.meta(name, lbls)}
		job.Spec.Template = tmpl
		job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		switch r := svc.Restart; {
		case r == "" || r == types.RestartPolicyNo:
			job.Spec.BackoffLimit = ptr(int32(0))
		case strings.HasPrefix(r, "on-failure"):
			job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			if n, err := strconv.Atoi(strings.TrimPrefix(r, "on-failure:")); err == nil {
				job.Spec.BackoffLimit = ptr(int32(n))
			}
		default:
			job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			c.warnf(svc.Name, "restart: %s: it runs as a Job (others wait for it to complete), which restarts only on failure", r)
		}
		if n := replicas(svc); n != 1 {
			job.Spec.Completions, job.Spec.Parallelism = ptr(n), ptr(n)
		}
		c.add(svc.Name, job)
	} else {
		d := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: c.meta(name, lbls)}
		d.Spec.Replicas = ptr(replicas(svc))
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: c.selector(svc.Name)}
		d.Spec.Template = tmpl
		d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		if r := svc.Restart; r == types.RestartPolicyNo || strings.HasPrefix(r, "on-failure") {
			c.warnf(svc.Name, "restart: %s: a Deployment's pods always restart (a Job is made only for services others wait for with service_completed_successfully)", r)
		}
		c.strategy(svc, d)
		c.add(svc.Name, d)
	}
	c.services(svc)
	return nil
}

// strategy maps update_config to the rolling update: start-first surges
// by parallelism and keeps every replica, stop-first the reverse; monitor
// is how long a new pod must stay ready to count as available.
func (c *converter) strategy(svc types.ServiceConfig, d *appsv1.Deployment) {
	if svc.Deploy == nil || svc.Deploy.UpdateConfig == nil {
		return
	}
	u := svc.Deploy.UpdateConfig
	n := 1
	if u.Parallelism != nil {
		n = int(*u.Parallelism)
		if n == 0 {
			n = int(replicas(svc))
		}
	}
	step := intstr.FromInt32(int32(max(n, 1)))
	zero := intstr.FromInt32(0)
	ru := &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &step}
	if u.Order == "start-first" {
		ru = &appsv1.RollingUpdateDeployment{MaxSurge: &step, MaxUnavailable: &zero}
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: ru}
	if u.Monitor != 0 {
		d.Spec.MinReadySeconds = int32(math.Ceil(time.Duration(u.Monitor).Seconds()))
	}
	if u.Delay != 0 {
		c.warnf(svc.Name, "deploy.update_config.delay: not converted (a rolling update has no pause between pods; monitor became minReadySeconds)")
	}
	if u.FailureAction == "rollback" {
		c.warnf(svc.Name, "deploy.update_config.failure_action: rollback: not converted (Kubernetes stops a failed rollout at progressDeadlineSeconds; kubectl rollout undo goes back)")
	}
	if u.MaxFailureRatio != 0 {
		c.warnf(svc.Name, "deploy.update_config.max_failure_ratio: not converted (no Kubernetes form)")
	}
	if svc.Deploy.RollbackConfig != nil {
		c.warnf(svc.Name, "deploy.rollback_config: not converted (kubectl rollout undo)")
	}
}

// labelsOf splits the service's labels into Kubernetes labels and, for
// those whose key or value a label cannot hold, annotations (with the
// service's own annotations).
func (c *converter) labelsOf(svc types.ServiceConfig) (map[string]string, map[string]string) {
	lbls, ann := map[string]string{}, map[string]string{}
	for k, v := range svc.Labels {
		if len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0 {
			lbls[k] = v
		} else {
			ann[k] = v
		}
	}
	maps.Copy(ann, svc.Annotations)
	if len(ann) == 0 {
		ann = nil
	}
	return lbls, ann
}

func (c *converter) image(svc types.ServiceConfig) string {
	if img := c.o.Images[svc.Name]; img != "" {
		return img
	}
	img := cmp.Or(svc.Image, c.p.Name+"-"+svc.Name)
	if svc.Build != nil {
		c.warnf(svc.Name, "build: the cluster pulls image %q: push it to a registry the cluster reaches (or convert with --push REGISTRY)", img)
	}
	return img
}

func (c *converter) podSpec(svc types.ServiceConfig) (corev1.PodSpec, error) {
	ctr := corev1.Container{
		Name:       dnsLabel(svc.Name),
		Image:      c.image(svc),
		Command:    svc.Entrypoint,
		Args:       svc.Command,
		WorkingDir: svc.WorkingDir,
		Stdin:      svc.StdinOpen,
		TTY:        svc.Tty,
	}
	switch svc.PullPolicy {
	case types.PullPolicyAlways:
		ctr.ImagePullPolicy = corev1.PullAlways
	case types.PullPolicyNever:
		ctr.ImagePullPolicy = corev1.PullNever
	case types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyBuild:
		ctr.ImagePullPolicy = corev1.PullIfNotPresent
	case "":
	default:
		c.warnf(svc.Name, "pull_policy: %s: not converted (Kubernetes pulls Always, IfNotPresent or Never)", svc.PullPolicy)
	}
	for _, k := range slices.Sorted(maps.Keys(svc.Environment)) {
		if v := svc.Environment[k]; v != nil {
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: *v})
		}
	}
	sc, err := c.securityContext(svc)
	if err != nil {
		return corev1.PodSpec{}, err
	}
	ctr.SecurityContext = sc
	ctr.Resources = c.resources(svc)
	for _, port := range containerPorts(svc) {
		ctr.Ports = append(ctr.Ports, corev1.ContainerPort{ContainerPort: port.port, Protocol: port.proto})
	}
	if err := c.probes(svc, &ctr); err != nil {
		return corev1.PodSpec{}, err
	}
	pod := corev1.PodSpec{Hostname: svc.Hostname}
	if svc.Hostname != "" && len(validation.IsDNS1123Label(svc.Hostname)) > 0 {
		c.warnf(svc.Name, "hostname: %q is not a DNS label: not converted", svc.Hostname)
		pod.Hostname = ""
	}
	if svc.StopGracePeriod != nil {
		pod.TerminationGracePeriodSeconds = ptr(int64(math.Ceil(time.Duration(*svc.StopGracePeriod).Seconds())))
	}
	if svc.Init != nil && *svc.Init {
		// The pause container becomes PID 1 and reaps, as docker-init
		// does; the service's process then gets default signal handling.
		pod.ShareProcessNamespace = ptr(true)
	}
	for _, host := range slices.Sorted(maps.Keys(svc.ExtraHosts)) {
		pod.HostAliases = append(pod.HostAliases, corev1.HostAlias{IP: svc.ExtraHosts[host][0], Hostnames: []string{host}})
		if len(svc.ExtraHosts[host]) > 1 {
			c.warnf(svc.Name, "extra_hosts: %s: only its first address is converted", host)
		}
	}
	if len(svc.Sysctls) > 0 {
		pod.SecurityContext = &corev1.PodSecurityContext{}
		for _, k := range slices.Sorted(maps.Keys(svc.Sysctls)) {
			pod.SecurityContext.Sysctls = append(pod.SecurityContext.Sysctls, corev1.Sysctl{Name: k, Value: svc.Sysctls[k]})
		}
	}
	if len(svc.DNSSearch) > 0 || len(svc.DNSOpts) > 0 {
		pod.DNSConfig = &corev1.PodDNSConfig{Searches: svc.DNSSearch}
		for _, o := range svc.DNSOpts {
			k, v, ok := strings.Cut(o, ":")
			opt := corev1.PodDNSConfigOption{Name: k}
			if ok {
				opt.Value = &v
			}
			pod.DNSConfig.Options = append(pod.DNSConfig.Options, opt)
		}
	}
	if svc.Platform != "" {
		os, arch, _ := strings.Cut(svc.Platform, "/")
		arch, variant, _ := strings.Cut(arch, "/")
		pod.NodeSelector = map[string]string{"kubernetes.io/os": os}
		if arch != "" {
			pod.NodeSelector["kubernetes.io/arch"] = arch
		}
		if variant != "" {
			c.warnf(svc.Name, "platform: variant %s: not converted (nodes are selected by os and arch)", variant)
		}
	}
	switch mode := svc.NetworkMode; {
	case mode == "" || mode == "bridge":
	case mode == "host":
		pod.HostNetwork = true
	default:
		c.warnf(svc.Name, "network_mode: %s: not converted (a pod has its own network namespace; put the containers in one service to share it)", mode)
	}
	switch svc.Pid {
	case "":
	case "host":
		pod.HostPID = true
	default:
		c.warnf(svc.Name, "pid: %s: not converted", svc.Pid)
	}
	switch svc.Ipc {
	case "", "private", "shareable":
	case "host":
		pod.HostIPC = true
	default:
		c.warnf(svc.Name, "ipc: %s: not converted", svc.Ipc)
	}
	if err := c.mounts(svc, &pod, &ctr); err != nil {
		return corev1.PodSpec{}, err
	}
	pod.InitContainers = c.waitsFor(svc)
	if len(pod.InitContainers) > 0 {
		pod.ServiceAccountName = c.waitAccount()
	}
	// pre_start steps run after the dependencies are met, as with up:
	// init containers with the service's mounts.
	for i, h := range svc.PreStart {
		ic := corev1.Container{Name: fmt.Sprintf("pre-start-%d", i), Image: cmp.Or(h.Image, ctr.Image), Args: h.Command,
			WorkingDir: h.WorkingDir, Env: slices.Clone(ctr.Env), VolumeMounts: ctr.VolumeMounts, SecurityContext: ctr.SecurityContext}
		if len(h.Command) == 0 {
			ic.Args = ctr.Args
		}
		for _, k := range slices.Sorted(maps.Keys(h.Environment)) {
			if v := h.Environment[k]; v != nil {
				ic.Env = append(slices.DeleteFunc(ic.Env, func(e corev1.EnvVar) bool { return e.Name == k }), corev1.EnvVar{Name: k, Value: *v})
			}
		}
		if h.User != "" || h.Privileged {
			hs := types.ServiceConfig{Name: svc.Name}
			hs.User, hs.Privileged = h.User, h.Privileged
			sc, err := c.securityContext(hs)
			if err != nil {
				return corev1.PodSpec{}, err
			}
			ic.SecurityContext = sc
		}
		pod.InitContainers = append(pod.InitContainers, ic)
	}
	pod.Containers = []corev1.Container{ctr}
	return pod, nil
}

func (c *converter) securityContext(svc types.ServiceConfig) (*corev1.SecurityContext, error) {
	sc := &corev1.SecurityContext{}
	set := false
	if svc.User != "" {
		u, g, hasGroup := strings.Cut(svc.User, ":")
		uid, err := strconv.ParseInt(u, 10, 64)
		if err != nil {
			c.warnf(svc.Name, "user: %q: not converted (Kubernetes takes a numeric uid; the image's user %q must be given by number)", svc.User, u)
		} else {
			sc.RunAsUser, set = &uid, true
		}
		if hasGroup {
			if gid, err := strconv.ParseInt(g, 10, 64); err == nil {
				sc.RunAsGroup, set = &gid, true
			} else {
				c.warnf(svc.Name, "user: group %q: not converted (a numeric gid is needed)", g)
			}
		}
	}
	if len(svc.CapAdd) > 0 || len(svc.CapDrop) > 0 {
		sc.Capabilities, set = &corev1.Capabilities{}, true
		for _, cp := range svc.CapAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(strings.TrimPrefix(cp, "CAP_")))
		}
		for _, cp := range svc.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(strings.TrimPrefix(cp, "CAP_")))
		}
	}
	if svc.ReadOnly {
		sc.ReadOnlyRootFilesystem, set = ptr(true), true
	}
	if svc.Privileged {
		sc.Privileged, set = ptr(true), true
	}
	if !set {
		return nil, nil
	}
	return sc, nil
}

// resources: limits from deploy.resources.limits (or cpus, mem_limit),
// requests from reservations (or mem_reservation).
func (c *converter) resources(svc types.ServiceConfig) corev1.ResourceRequirements {
	var rr corev1.ResourceRequirements
	gpus := c.gpuCount(svc.Name, "gpus", svc.Gpus)
	cpu, mem := float64(svc.CPUS), int64(svc.MemLimit)
	rcpu, rmem := 0.0, int64(svc.MemReservation)
	if d := svc.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			cpu, mem = cmp.Or(float64(l.NanoCPUs), cpu), cmp.Or(int64(l.MemoryBytes), mem)
			if l.Pids != 0 {
				c.warnf(svc.Name, "deploy.resources.limits.pids: not converted (Kubernetes limits PIDs per node)")
			}
		}
		if r := d.Resources.Reservations; r != nil {
			rcpu, rmem = float64(r.NanoCPUs), cmp.Or(int64(r.MemoryBytes), rmem)
			gpus += c.gpuCount(svc.Name, "deploy.resources.reservations.devices", r.Devices)
			if len(r.GenericResources) > 0 {
				c.warnf(svc.Name, "deploy.resources.reservations.generic_resources: not converted (no Kubernetes form)")
			}
		}
	}
	quantities := func(cpu float64, mem int64) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu > 0 {
			l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Round(cpu*1000)), resource.DecimalSI)
		}
		if mem > 0 {
			l[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
		}
		if len(l) == 0 {
			return nil
		}
		return l
	}
	rr.Limits, rr.Requests = quantities(cpu, mem), quantities(rcpu, rmem)
	if gpus > 0 {
		if rr.Limits == nil {
			rr.Limits = corev1.ResourceList{}
		}
		// The NVIDIA device plugin's resource; limits are requests for it.
		rr.Limits["nvidia.com/gpu"] = *resource.NewQuantity(gpus, resource.DecimalSI)
	}
	return rr
}

// gpuCount is how many GPUs device requests ask for (nvidia.com/gpu in
// Kubernetes); what cannot be counted is warned about.
func (c *converter) gpuCount(service, field string, reqs []types.DeviceRequest) int64 {
	var n int64
	for _, r := range reqs {
		gpu := field == "gpus" || slices.Contains(r.Capabilities, "gpu")
		switch {
		case !gpu || r.Driver == "cdi" || (r.Driver != "" && r.Driver != "nvidia"):
			c.warnf(service, "%s: driver %q %v: not converted (only NVIDIA GPUs map to a resource, nvidia.com/gpu)", field, r.Driver, r.Capabilities)
		case len(r.IDs) > 0:
			n += int64(len(r.IDs))
			c.warnf(service, "%s: device_ids %v: converted to a count of %d (Kubernetes schedules GPUs by count)", field, r.IDs, len(r.IDs))
		case r.Count > 0:
			n += int64(r.Count)
		default:
			c.warnf(service, "%s: count all: not converted (a pod asks for a number of GPUs)", field)
		}
	}
	return n
}

type port struct {
	port  int32
	proto corev1.Protocol
	// published is the host port (0: none, or an ephemeral one).
	published int32
	hostIP    string
}

// containerPorts are the service's ports and exposed ports, once each.
func containerPorts(svc types.ServiceConfig) []port {
	var out []port
	seen := map[string]bool{}
	add := func(p port) {
		k := fmt.Sprint(p.port, p.proto)
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, p := range svc.Ports {
		pub, _ := strconv.Atoi(p.Published)
		add(port{port: int32(p.Target), proto: protocol(p.Protocol), published: int32(pub), hostIP: p.HostIP})
	}
	for _, e := range svc.Expose {
		num, proto, _ := strings.Cut(e, "/")
		if n, err := strconv.Atoi(num); err == nil {
			add(port{port: int32(n), proto: protocol(proto)})
		}
	}
	return out
}

func protocol(p string) corev1.Protocol {
	switch strings.ToLower(p) {
	case "udp":
		return corev1.ProtocolUDP
	case "sctp":
		return corev1.ProtocolSCTP
	}
	return corev1.ProtocolTCP
}

// probes turn a healthcheck into readiness and liveness probes running
// the same test; start_period becomes a startup probe, so the others
// begin once it passed.
func (c *converter) probes(svc types.ServiceConfig, ctr *corev1.Container) error {
	h := svc.HealthCheck
	if h == nil || h.Disable || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	var cmd []string
	switch h.Test[0] {
	case "CMD":
		cmd = h.Test[1:]
	case "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
	default:
		cmd = []string{"/bin/sh", "-c", strings.Join(h.Test, " ")}
	}
	seconds := func(d *types.Duration, def time.Duration) int32 {
		v := def
		if d != nil && *d > 0 {
			v = time.Duration(*d)
		}
		return int32(max(1, math.Ceil(v.Seconds())))
	}
	period := seconds(h.Interval, 30*time.Second)
	retries := int32(3)
	if h.Retries != nil && *h.Retries > 0 {
		retries = int32(*h.Retries)
	}
	probe := func() *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
			PeriodSeconds:    period,
			TimeoutSeconds:   seconds(h.Timeout, 30*time.Second),
			FailureThreshold: retries,
		}
	}
	ctr.ReadinessProbe, ctr.LivenessProbe = probe(), probe()
	if h.StartPeriod != nil && *h.StartPeriod > 0 {
		sp := probe()
		sp.PeriodSeconds = seconds(h.StartInterval, 5*time.Second)
		sp.FailureThreshold = int32(math.Ceil(time.Duration(*h.StartPeriod).Seconds()/float64(sp.PeriodSeconds))) + retries
		ctr.StartupProbe = sp
	}
	return nil
}

// waitsFor are the init containers that hold the pod until each required
// dependency meets its condition, through the API: started, its pods
// running; healthy, its pods ready (readiness runs the healthcheck);
// completed successfully, its Job complete. A dependency that is not met
// fails the init container, which the kubelet runs again.
func (c *converter) waitsFor(svc types.ServiceConfig) []corev1.Container {
	var out []corev1.Container
	for _, dep := range slices.Sorted(maps.Keys(svc.DependsOn)) {
		d := svc.DependsOn[dep]
		if !d.Required {
			continue // required: false never blocks
		}
		if d.Restart {
			c.warnf(svc.Name, "depends_on.%s.restart: not converted (Kubernetes does not restart dependents)", dep)
		}
		pods := fmt.Sprintf("--selector=%s=%s,%s=%s", LabelProject, c.p.Name, LabelService, dep)
		var args []string
		switch d.Condition {
		case types.ServiceConditionHealthy:
			args = []string{"wait", "pod", pods, "--for=condition=Ready"}
		case types.ServiceConditionCompletedSuccessfully:
			args = []string{"wait", "job/" + dnsLabel(dep), "--for=condition=Complete"}
		default:
			args = []string{"wait", "pod", pods, "--for=jsonpath={.status.phase}=Running"}
		}
		args = append(args, "--namespace="+c.ns, "--timeout=10m")
		out = append(out, corev1.Container{Name: "wait-for-" + dnsLabel(dep), Image: c.o.WaitImage, Command: []string{"kubectl"}, Args: args})
		c.waits = true
	}
	return out
}

func ptr[T any](v T) *T { return &v }
