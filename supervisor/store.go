package supervisor

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/runtime"
)

// store is what the supervisor reads and does in containerd. clientStore
// implements it with the containerd client and runtime (so errors are
// runtime's); unit tests fake it.
type store interface {
	Namespaces(ctx context.Context) ([]string, error)
	// Containers lists the namespace's containers that carry label and
	// were made with this supervisor's state directory.
	Containers(ctx context.Context, ns, label string) ([]container, error)
	// Labels reads one container's labels.
	Labels(ctx context.Context, ns, id string) (map[string]string, error)
	// Task reads the container's task; a container without one is an
	// error (errdefs NotFound).
	Task(ctx context.Context, ns, id string) (task, error)
	SetLabel(ctx context.Context, ns, id, key, value string) error
	// Restart starts the container again unless a user stopped it; it
	// says whether it did.
	Restart(ctx context.Context, ns, id string) (bool, error)
	Exec(ctx context.Context, ns, id string, req runtime.ExecRequest) (int, error)
}

type container struct {
	ID     string
	Labels map[string]string
}

type task struct {
	Pid        uint32
	Running    bool
	Stopped    bool
	ExitStatus uint32
}

// clientStore is the store of a containerd client.
type clientStore struct {
	client  *containerd.Client
	address string
	state   string // this supervisor's state directory
}

func (c clientStore) Namespaces(ctx context.Context) ([]string, error) {
	nss, err := c.client.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return nss, nil
}

func (c clientStore) Containers(ctx context.Context, ns, label string) ([]container, error) {
	filter := fmt.Sprintf(`labels."%s",labels."%s"==%q`, label, labels.State, c.state)
	cs, err := c.client.ContainerService().List(namespaces.WithNamespace(ctx, ns), filter)
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", ns, err)
	}
	out := make([]container, len(cs))
	for i, x := range cs {
		out[i] = container{ID: x.ID, Labels: x.Labels}
	}
	return out, nil
}

func (c clientStore) Labels(ctx context.Context, ns, id string) (map[string]string, error) {
	nctx := namespaces.WithNamespace(ctx, ns)
	ct, err := c.client.LoadContainer(nctx, id)
	if err != nil {
		return nil, err
	}
	return ct.Labels(nctx)
}

func (c clientStore) Task(ctx context.Context, ns, id string) (task, error) {
	nctx := namespaces.WithNamespace(ctx, ns)
	ct, err := c.client.LoadContainer(nctx, id)
	if err != nil {
		return task{}, err
	}
	t, err := ct.Task(nctx, nil)
	if err != nil {
		return task{}, err
	}
	st, err := t.Status(nctx)
	if err != nil {
		return task{}, err
	}
	return task{Pid: t.Pid(), Running: st.Status == containerd.Running, Stopped: st.Status == containerd.Stopped, ExitStatus: st.ExitStatus}, nil
}

func (c clientStore) SetLabel(ctx context.Context, ns, id, key, value string) error {
	nctx := namespaces.WithNamespace(ctx, ns)
	ct, err := c.client.LoadContainer(nctx, id)
	if err != nil {
		return err
	}
	_, err = ct.SetLabels(nctx, map[string]string{key: value})
	return err
}

func (c clientStore) Restart(ctx context.Context, ns, id string) (bool, error) {
	return runtime.FromClient(c.client, ns, c.address).Restart(namespaces.WithNamespace(ctx, ns), id)
}

func (c clientStore) Exec(ctx context.Context, ns, id string, req runtime.ExecRequest) (int, error) {
	return runtime.FromClient(c.client, ns, c.address).Exec(namespaces.WithNamespace(ctx, ns), id, req)
}

// nsExec runs probes in one namespace.
type nsExec struct {
	st store
	ns string
}

func (e nsExec) Exec(ctx context.Context, id string, req runtime.ExecRequest) (int, error) {
	return e.st.Exec(ctx, e.ns, id, req)
}
