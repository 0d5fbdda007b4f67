// Package scheduler decides, without any I/O, what `up` must do to turn the
// observed containers into the desired services, in dependency order.
package scheduler

import (
	"fmt"
	"slices"
	"strings"
)

// Service is one desired service.
type Service struct {
	Name      string
	Hash      string // config hash of the desired container
	Replicas  int
	DependsOn []string // only services present in the desired set
	// Conditions maps a dependency to what it must reach before this
	// service starts: started (default), healthy, completed_successfully.
	Conditions map[string]string
	// ForceRecreate recreates this service's containers even when their
	// hash matches (up --force-recreate for the named services,
	// --always-recreate-deps for their dependencies).
	ForceRecreate bool
	// Replace gives the successor of a running outdated container the
	// next free container number instead of its own, so that both can
	// exist at once (a start-first update, or one that may roll back).
	Replace bool
}

// Container is one observed container of the project.
type Container struct {
	Name    string
	Service string
	Number  int
	Hash    string
	Running bool
}

// Options are the `up` flags that change the plan.
type Options struct {
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	NoStart       bool
}

// Kind is what to do to one container.
type Kind string

// The operations a plan can hold.
const (
	Create   Kind = "create"
	Recreate Kind = "recreate"
	// Replace starts a new container (Number) beside the running one
	// (Container) and removes the old one once the new one is ready.
	Replace Kind = "replace"
	Start   Kind = "start"
	Remove  Kind = "remove"
)

// Op is one operation on one container.
type Op struct {
	Kind      Kind
	Container string
	Number    int
}

// Step is what happens to one service; it may begin once every service in
// DependsOn has finished its step.
type Step struct {
	Service    string
	DependsOn  []string
	Conditions map[string]string
	Ops        []Op
}

// Plan is the ordered set of steps; Orphans are containers of services no
// longer in the file.
type Plan struct {
	Steps   []Step
	Orphans []Op
	// Unmanaged orphans, reported when RemoveOrphans is not set.
	OrphanNames []string
}

// ContainerName is Docker Compose's name for replica n of a service.
func ContainerName(project, service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", project, service, n)
}

// Make computes the plan. It never mutates its inputs.
func Make(project string, desired []Service, observed []Container, o Options) (*Plan, error) {
	order, err := TopoSort(desired)
	if err != nil {
		return nil, err
	}
	byService := map[string][]Container{}
	for _, c := range observed {
		byService[c.Service] = append(byService[c.Service], c)
	}
	p := &Plan{}
	for _, s := range order {
		step := Step{Service: s.Name, DependsOn: slices.Sorted(slices.Values(s.DependsOn)), Conditions: s.Conditions}
		step.Ops = converge(project, s, byService[s.Name], o)
		p.Steps = append(p.Steps, step)
	}
	known := map[string]bool{}
	for _, s := range desired {
		known[s.Name] = true
	}
	var orphans []Container
	for _, c := range observed {
		if !known[c.Service] {
			orphans = append(orphans, c)
		}
	}
	slices.SortFunc(orphans, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range orphans {
		if o.RemoveOrphans {
			p.Orphans = append(p.Orphans, Op{Kind: Remove, Container: c.Name, Number: c.Number})
		} else {
			p.OrphanNames = append(p.OrphanNames, c.Name)
		}
	}
	return p, nil
}

// converge is Docker Compose's convergence of one service: its containers
// sorted up-to-date first, low numbers first; the first Replicas are kept
// (recreated or started as needed), the rest removed, and missing replicas
// created with the numbers after the highest in use.
func converge(project string, s Service, have []Container, o Options) []Op {
	obsolete := func(c Container) bool {
		return !o.NoRecreate && (o.ForceRecreate || s.ForceRecreate || c.Hash != s.Hash)
	}
	cs := slices.Clone(have)
	slices.SortStableFunc(cs, func(a, b Container) int {
		if oa, ob := obsolete(a), obsolete(b); oa != ob {
			if oa {
				return 1
			}
			return -1
		}
		return a.Number - b.Number
	})
	next := 1
	for _, c := range cs {
		next = max(next, c.Number+1)
	}
	var ops, removes []Op
	for i, c := range cs {
		switch {
		case i >= s.Replicas:
			removes = append(removes, Op{Kind: Remove, Container: c.Name, Number: c.Number})
		case obsolete(c) && s.Replace && c.Running && !o.NoStart:
			ops = append(ops, Op{Kind: Replace, Container: c.Name, Number: next})
			next++
		case obsolete(c):
			ops = append(ops, Op{Kind: Recreate, Container: c.Name, Number: c.Number})
		case !c.Running && !o.NoStart:
			ops = append(ops, Op{Kind: Start, Container: c.Name, Number: c.Number})
		}
	}
	for range s.Replicas - len(cs) {
		ops = append(ops, Op{Kind: Create, Container: ContainerName(project, s.Name, next), Number: next})
		next++
	}
	slices.SortStableFunc(removes, func(a, b Op) int { return a.Number - b.Number })
	return append(ops, removes...)
}

// TopoSort orders services so that each comes after its dependencies, ties
// broken by name. A cycle is an error showing the path.
func TopoSort(services []Service) ([]Service, error) {
	byName := map[string]Service{}
	names := make([]string, 0, len(services))
	for _, s := range services {
		byName[s.Name] = s
		names = append(names, s.Name)
	}
	slices.Sort(names)
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var out []Service
	var stack []string
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			i := slices.Index(stack, n)
			cycle := append(slices.Clone(stack[i:]), n)
			return fmt.Errorf("dependency cycle detected: %s", strings.Join(cycle, " -> "))
		}
		state[n] = visiting
		stack = append(stack, n)
		deps := slices.Sorted(slices.Values(byName[n].DependsOn))
		for _, d := range deps {
			if _, ok := byName[d]; !ok {
				continue
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		out = append(out, byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// String prints the plan one operation a line, for golden tests and --dry-run.
func (p *Plan) String() string {
	var b strings.Builder
	for _, op := range p.Orphans {
		fmt.Fprintf(&b, "%s %s (orphan)\n", op.Kind, op.Container)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "service %s", s.Service)
		if len(s.DependsOn) > 0 {
			deps := make([]string, len(s.DependsOn))
			for i, d := range s.DependsOn {
				deps[i] = d
				if c := s.Conditions[d]; c != "" && c != "service_started" {
					deps[i] += "(" + strings.TrimPrefix(c, "service_") + ")"
				}
			}
			fmt.Fprintf(&b, " after %s", strings.Join(deps, ","))
		}
		b.WriteString("\n")
		if len(s.Ops) == 0 {
			b.WriteString("  (up to date)\n")
		}
		for _, op := range s.Ops {
			fmt.Fprintf(&b, "  %s %s", op.Kind, op.Container)
			if op.Kind == Replace {
				fmt.Fprintf(&b, " by %s", ContainerName("", s.Service, op.Number)[1:])
			}
			b.WriteString("\n")
		}
	}
	for _, n := range p.OrphanNames {
		fmt.Fprintf(&b, "orphan %s (kept; use --remove-orphans)\n", n)
	}
	return b.String()
}
