package kube

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// A real kube-apiserver backed by etcd, both on 127.0.0.1, started once for
// the package's tests from the binaries scripts/kube-bins.sh builds
// (GOCOMPOSE_KUBE_BIN names their directory; `make test` sets it) and
// stopped when the tests end.

var (
	apiOnce sync.Once
	apiCfg  *rest.Config
	apiErr  error
	apiStop []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(apiStop) - 1; i >= 0; i-- {
		apiStop[i]()
	}
	os.Exit(code)
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon starts a binary with its output in a log file and registers its
// stop.
func daemon(dir, name string, args ...string) error {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(os.Getenv("GOCOMPOSE_KUBE_BIN"), name), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	apiStop = append(apiStop, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	return nil
}

func apiServer(t *testing.T) *rest.Config {
	t.Helper()
	bin := os.Getenv("GOCOMPOSE_KUBE_BIN")
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, b)); bin == "" || err != nil {
			skipOrFail(t, "needs etcd and kube-apiserver: set GOCOMPOSE_KUBE_BIN to the directory scripts/kube-bins.sh prints")
		}
	}
	apiOnce.Do(func() { apiCfg, apiErr = startAPIServer(t) })
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return apiCfg
}

func startAPIServer(t *testing.T) (*rest.Config, error) {
	dir, err := os.MkdirTemp("", "gckube")
	if err != nil {
		return nil, err
	}
	apiStop = append(apiStop, func() { os.RemoveAll(dir) })
	client, peer, secure := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	if err := daemon(dir, "etcd", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peer)); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	token := rand.Text()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	if err := daemon(dir, "kube-apiserver", "--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(secure),
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", tokens,
		"--authorization-mode", "RBAC", "--endpoint-reconciler-type", "none",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", keyFile,
		"--service-account-signing-key-file", keyFile, "--service-cluster-ip-range", "10.231.0.0/24"); err != nil {
		return nil, err
	}
	cfg := &rest.Config{Host: fmt.Sprintf("https://127.0.0.1:%d", secure), BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
	hc := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequest("GET", cfg.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cfg, nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver.log"))
			return nil, fmt.Errorf("kube-apiserver not ready after 90s: %v\n%s", err, tail(log, 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// decode splits rendered files into objects (comments and all).
func decode(t *testing.T, files []File) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, f := range files {
		if f.Path == "kustomization.yaml" || f.Path == "Chart.yaml" || f.Path == "values.yaml" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(f.Data, &m); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// applyAll creates every object with server-side apply (namespace first,
// as they are written) and reads each back.
func applyAll(t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if ns := o.GetNamespace(); ns != "" {
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Patch(ctx, o.GetName(), ktypes.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "gocompose-test", Force: ptr(true)}); err != nil {
			t.Errorf("apply %s %s: %v", gvk.Kind, o.GetName(), err)
			continue
		}
		got, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("get %s %s: %v", gvk.Kind, o.GetName(), err)
			continue
		}
		if diff := subset("", o.Object, got.Object); diff != "" {
			t.Errorf("%s %s as stored differs from what was written: %s", gvk.Kind, o.GetName(), diff)
		}
	}
}

// subset says where want (what was written) is not found in got (what the
// server stored, with its defaults added); quantities compare by value.
func subset(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %v, stored %v", path, want, got)
		}
		for k, v := range w {
			if d := subset(path+"."+k, v, g[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, stored %v", path, want, got)
		}
		for i := range w {
			if d := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if fmt.Sprint(want) == fmt.Sprint(got) {
		return ""
	}
	if ws, ok := want.(string); ok {
		if gs, ok := got.(string); ok {
			wq, err1 := resource.ParseQuantity(ws)
			gq, err2 := resource.ParseQuantity(gs)
			if err1 == nil && err2 == nil && wq.Cmp(gq) == 0 {
				return ""
			}
		}
	}
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("%s: %v, stored %v", path, want, got)
}

func TestAPIServerAcceptsEveryObject(t *testing.T) {
	cfg := apiServer(t)
	for _, name := range []string{"seed", "all"} {
		t.Run(name, func(t *testing.T) {
			p, r := convert(t, name)
			files, err := Files(r, p.Name, FormatKubernetes)
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, files)
			if len(objs) < 10 {
				t.Fatalf("only %d objects", len(objs))
			}
			applyAll(t, cfg, objs)
		})
	}
}

// The chart, rendered with its own values as Helm renders it (Go
// templates, toYaml, nindent), is the same objects as the manifests, and
// the API server takes them; with other values, those values show.
func TestHelmChartRendersTheManifests(t *testing.T) {
	p, r := convert(t, "all")
	plain, err := Files(r, p.Name, FormatKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	chartFiles, err := Files(r, p.Name, FormatHelm)
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	for _, f := range chartFiles {
		if f.Path == "values.yaml" {
			if err := yaml.Unmarshal(f.Data, &values); err != nil {
				t.Fatal(err)
			}
		}
	}
	rendered := renderChart(t, chartFiles, values)
	want := decode(t, plain)
	got := decode(t, rendered)
	if len(got) != len(want) {
		t.Fatalf("chart renders %d objects, manifests are %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(want[i].Object, got[i].Object) {
			a, _ := yaml.Marshal(want[i].Object)
			b, _ := yaml.Marshal(got[i].Object)
			t.Errorf("chart object %d differs:\n%s\nrendered:\n%s", i, a, b)
		}
	}
	// Values change what they expose.
	svc := values["services"].(map[string]any)["api"].(map[string]any)
	svc["replicas"], svc["image"] = 7, "registry.example/api:3"
	for _, o := range decode(t, renderChart(t, chartFiles, values)) {
		if o.GetKind() == "Deployment" && o.GetName() == "api" {
			n, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas")
			ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if fmt.Sprint(n) != "7" || ctrs[0].(map[string]any)["image"] != "registry.example/api:3" {
				t.Errorf("values not applied: replicas %d, containers %v", n, ctrs)
			}
		}
	}
	if cfg := apiConfigIfAvailable(t); cfg != nil {
		applyAll(t, cfg, got)
	}
}

func apiConfigIfAvailable(t *testing.T) *rest.Config {
	if os.Getenv("GOCOMPOSE_KUBE_BIN") == "" && os.Getenv("CI") != "true" {
		return nil
	}
	return apiServer(t)
}

// renderChart renders the templates as Helm does, with the functions the
// chart uses.
func renderChart(t *testing.T, files []File, values map[string]any) []File {
	t.Helper()
	funcs := template.FuncMap{
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
	}
	var out []File
	for _, f := range files {
		name, ok := strings.CutPrefix(f.Path, "templates/")
		if !ok {
			continue
		}
		tmpl, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(f.Data))
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, map[string]any{"Values": values}); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		out = append(out, File{Path: name, Data: b.Bytes()})
	}
	return out
}
