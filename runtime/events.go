package runtime

import (
	"context"
	"fmt"
	"strings"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
)

// Event is one container lifecycle event.
type Event struct {
	Time      time.Time
	Action    string // create, start, die, destroy, pause, unpause, update
	Container string
	ExitCode  *int
}

// Events streams lifecycle events of this namespace's containers until ctx
// ends.
func (r *Runtime) Events(ctx context.Context, fn func(Event)) error {
	ch, errs := r.client.EventService().Subscribe(ctx, fmt.Sprintf(`namespace==%q`, r.namespace))
	for {
		select {
		case env := <-ch:
			if env == nil || env.Event == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			e := Event{Time: env.Timestamp}
			switch x := v.(type) {
			case *apievents.ContainerCreate:
				e.Action, e.Container = "create", x.ID
			case *apievents.ContainerDelete:
				e.Action, e.Container = "destroy", x.ID
			case *apievents.TaskStart:
				e.Action, e.Container = "start", x.ContainerID
			case *apievents.TaskExit:
				if x.ID != x.ContainerID {
					continue // an exec'd process, not the container
				}
				code := int(x.ExitStatus)
				e.Action, e.Container, e.ExitCode = "die", x.ContainerID, &code
			case *apievents.TaskPaused:
				e.Action, e.Container = "pause", x.ContainerID
			case *apievents.TaskResumed:
				e.Action, e.Container = "unpause", x.ContainerID
			default:
				continue
			}
			if strings.HasPrefix(e.Container, "exec-") {
				continue
			}
			fn(e)
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			return conv(err)
		case <-ctx.Done():
			return nil
		}
	}
}
