package app

import (
	"io"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// FuzzContainerLabels decodes whatever a container's labels hold (they
// are written by gocompose, but containerd lets anyone set them): ps's
// fields and down's dependency walk must not panic on any of it.
func FuzzContainerLabels(f *testing.F) {
	f.Add(`[{"network":"p_default","ifname":"eth0","ip":"10.89.0.2","names":["web"]}]`,
		`[{"host_ip":"0.0.0.0","host_port":8080,"container_port":80,"protocol":"tcp"}]`, "db:service_healthy:true,cache:service_started:false", "web")
	f.Add("", "", "", "")
	f.Add("{", "[1,2]", ",:,::", "db")
	f.Fuzz(func(t *testing.T, networks, ports, dependsOn, service string) {
		c := runtime.Container{ID: "p-web-1", Labels: map[string]string{
			labels.Networks: networks, labels.Ports: ports, labels.DependsOn: dependsOn, labels.Service: "web",
		}}
		a := &App{RootDir: "/var/lib/gocompose", Err: io.Discard}
		_ = a.networkNames(c)
		_ = portsText(a.publishedLabel(c))
		if id := instanceID(c); len(id) != 64 {
			t.Errorf("instanceID %q is not 64 hex", id)
		}
		_ = a.entry(c, c.Created, true)
		if _, err := downServices(&types.Project{Name: "p"}, []runtime.Container{c}, []string{service}); err != nil {
			t.Errorf("down by name never fails on labels: %v", err)
		}
	})
}

// FuzzPortConflicts parses any ports: entry as compose-go does and runs the
// conflict check on two services publishing it.
func FuzzPortConflicts(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:8080:80/udp", "70000:80", "8000-8010:80", "80", "[::1]:80:80", ":::80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, port string) {
		ports, err := types.ParsePortConfig(port)
		if err != nil {
			return
		}
		a, b := types.ServiceConfig{Name: "a"}, types.ServiceConfig{Name: "b"}
		a.Ports, b.Ports = ports, ports
		p := &types.Project{Name: "p", Services: types.Services{"a": a, "b": b}}
		_ = checkConflicts(p, p, nil)
	})
}
