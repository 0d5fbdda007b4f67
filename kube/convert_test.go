package kube

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/golden"
	"github.com/gocompose/gocompose/spec"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// projects are converted by the golden and API server tests: the seed
// example and a project using every mapping.
var projects = map[string]string{
	"seed": filepath.Join("..", "examples", "seed", "compose.yaml"),
	"all":  filepath.Join("testdata", "all", "compose.yaml"),
}

func loadProject(t *testing.T, file string) *types.Project {
	t.Helper()
	p, err := spec.LoadUnchecked(t.Context(), spec.Options{Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func convert(t *testing.T, name string) (*types.Project, *Result) {
	t.Helper()
	p := loadProject(t, projects[name])
	r, err := Convert(p, Options{HostPaths: true})
	if err != nil {
		t.Fatal(err)
	}
	return p, r
}

// render is every file of a format, in order, with the project directory
// written as $PROJECT so the output does not depend on the checkout.
func render(t *testing.T, p *types.Project, r *Result, format string) []byte {
	t.Helper()
	files, err := Files(r, p.Name, format)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "=== %s (%o)\n%s\n", f.Path, f.Mode, f.Data)
	}
	return bytes.ReplaceAll(b.Bytes(), []byte(p.WorkingDir), []byte("$PROJECT"))
}

func TestConvertGolden(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(projects)) {
		t.Run(name, func(t *testing.T) {
			p, r := convert(t, name)
			golden.Assert(t, name+".kubernetes.golden", render(t, p, r, FormatKubernetes))
			golden.Assert(t, name+".helm.golden", render(t, p, r, FormatHelm))
			// Twice the same: stable order, no timestamps.
			_, again := convert(t, name)
			if !bytes.Equal(render(t, p, r, FormatKubernetes), render(t, p, again, FormatKubernetes)) {
				t.Error("two conversions differ")
			}
		})
	}
}

func find[T any](t *testing.T, r *Result, name string) T {
	t.Helper()
	for _, o := range r.Objects {
		if v, ok := o.Obj.(T); ok {
			if m, ok := any(v).(interface{ GetName() string }); ok && m.GetName() == name {
				return v
			}
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

// The mappings that keep the project working, checked one by one.
func TestConvertKeepsWhatMakesTheProjectWork(t *testing.T) {
	_, r := convert(t, "all")
	api := find[*appsv1.Deployment](t, r, "api")
	pod := api.Spec.Template.Spec

	// Start order: one init container per required dependency, each
	// waiting for its condition; required: false (cache) does not block.
	var waits []string
	for _, c := range pod.InitContainers {
		waits = append(waits, c.Name+" "+strings.Join(c.Args, " "))
	}
	want := []string{
		"wait-for-db wait pod --selector=com.docker.compose.project=allfields,com.docker.compose.service=db --for=condition=Ready --namespace=allfields --timeout=10m",
		"wait-for-migrate wait job/migrate --for=condition=Complete --namespace=allfields --timeout=10m",
	}
	if !slices.Equal(waits, want) {
		t.Errorf("init containers:\n%s\nwant:\n%s", strings.Join(waits, "\n"), strings.Join(want, "\n"))
	}
	if pod.ServiceAccountName != "allfields-depends-on" {
		t.Errorf("waiting pod runs as %q", pod.ServiceAccountName)
	}
	// A service waited for with service_completed_successfully is a Job.
	job := find[*batchv1.Job](t, r, "migrate")
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure || *job.Spec.BackoffLimit != 3 {
		t.Errorf("migrate job: restart %s backoff %d", job.Spec.Template.Spec.RestartPolicy, *job.Spec.BackoffLimit)
	}
	// Health: readiness and liveness run the test; start_period is a
	// startup probe.
	db := find[*appsv1.Deployment](t, r, "db").Spec.Template.Spec.Containers[0]
	if db.ReadinessProbe == nil || db.LivenessProbe == nil || db.StartupProbe == nil ||
		!slices.Equal(db.ReadinessProbe.Exec.Command, []string{"/bin/sh", "-c", "pg_isready -U postgres"}) ||
		db.ReadinessProbe.PeriodSeconds != 5 || db.ReadinessProbe.TimeoutSeconds != 3 || db.ReadinessProbe.FailureThreshold != 5 {
		t.Errorf("db probes: %+v %+v %+v", db.ReadinessProbe, db.LivenessProbe, db.StartupProbe)
	}
	// Names: a headless Service per service, aliases too; published
	// ports on a LoadBalancer.
	if s := find[*corev1.Service](t, r, "api"); s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("api Service is not headless: %+v", s.Spec)
	}
	find[*corev1.Service](t, r, "api-v2")
	pub := find[*corev1.Service](t, r, "web-published")
	if pub.Spec.Type != corev1.ServiceTypeLoadBalancer || len(pub.Spec.Ports) != 2 || pub.Spec.Ports[0].Port != 80 || pub.Spec.Ports[0].TargetPort.IntVal != 8080 {
		t.Errorf("web-published: %+v", pub.Spec)
	}
	// Shared volume: one claim, ReadWriteMany; x-kubernetes size.
	up := find[*corev1.PersistentVolumeClaim](t, r, "uploads")
	if up.Spec.AccessModes[0] != corev1.ReadWriteMany {
		t.Errorf("uploads claim %v", up.Spec.AccessModes)
	}
	dbdata := find[*corev1.PersistentVolumeClaim](t, r, "dbdata")
	if q := dbdata.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "10Gi" || *dbdata.Spec.StorageClassName != "fast" {
		t.Errorf("dbdata claim %+v", dbdata.Spec)
	}
	// Isolation: db (internal network only) reaches nothing beyond the
	// namespace; api and web share "front".
	internal := find[*networkingv1.NetworkPolicy](t, r, "db-internal")
	if internal.Spec.PolicyTypes[0] != networkingv1.PolicyTypeEgress || len(internal.Spec.Egress) != 2 {
		t.Errorf("db-internal %+v", internal.Spec)
	}
	if api.Spec.Template.Labels["network.gocompose.io/front"] != "true" || api.Spec.Template.Labels["network.gocompose.io/back"] != "true" {
		t.Errorf("api pod labels %v", api.Spec.Template.Labels)
	}
	// Secrets: mode, gid as fsGroup.
	dbPod := find[*appsv1.Deployment](t, r, "db").Spec.Template.Spec
	if dbPod.SecurityContext == nil || *dbPod.SecurityContext.FSGroup != 999 || *dbPod.Volumes[1].Secret.Items[0].Mode != 0o400 {
		t.Errorf("db secret: %+v %+v", dbPod.SecurityContext, dbPod.Volumes)
	}
	// Nothing dropped silently.
	for _, w := range []string{"service db: ulimits: not converted", "volume uploads: shared by api, web (4 pods)"} {
		if !slices.ContainsFunc(r.Warnings, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Errorf("warnings lack %q: %v", w, r.Warnings)
		}
	}
}

func TestConvertRefuses(t *testing.T) {
	p := loadProject(t, projects["all"])
	if _, err := Convert(p, Options{}); err == nil || !strings.Contains(err.Error(), "--host-paths") {
		t.Errorf("a bind mount without --host-paths: %v", err)
	}
	if _, err := Convert(p, Options{HostPaths: true, Publish: "ingress"}); err == nil {
		t.Error("an unknown publish mode was accepted")
	}
	if _, err := Files(&Result{}, "x", "jsonnet"); err == nil {
		t.Error("an unknown format was accepted")
	}
}
