package scheduler

import (
	"slices"
	"strings"
	"testing"

	"github.com/gocompose/gocompose/internal/golden"
)

func svc(name, hash string, deps ...string) Service {
	return Service{Name: name, Hash: hash, Replicas: 1, DependsOn: deps}
}

func TestPlanGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		desired  []Service
		observed []Container
		opts     Options
	}{
		{name: "fresh-chain", desired: []Service{svc("web", "h1", "api"), svc("api", "h2", "db"), svc("db", "h3")}},
		{name: "diamond", desired: []Service{svc("a", "1", "b", "c"), svc("b", "2", "d"), svc("c", "3", "d"), svc("d", "4")}},
		{name: "conditions", desired: []Service{
			{Name: "app", Hash: "1", Replicas: 1, DependsOn: []string{"db", "migrate"},
				Conditions: map[string]string{"db": "service_healthy", "migrate": "service_completed_successfully"}},
			svc("db", "2"), svc("migrate", "3", "db"),
		}},
		{
			name:    "recreate-middle",
			desired: []Service{svc("web", "h1", "api"), svc("api", "NEW", "db"), svc("db", "h3")},
			observed: []Container{
				{Name: "p-web-1", Service: "web", Number: 1, Hash: "h1", Running: true},
				{Name: "p-api-1", Service: "api", Number: 1, Hash: "h2", Running: true},
				{Name: "p-db-1", Service: "db", Number: 1, Hash: "h3", Running: true},
			},
		},
		{
			name:     "stopped-started",
			desired:  []Service{svc("web", "h1")},
			observed: []Container{{Name: "p-web-1", Service: "web", Number: 1, Hash: "h1"}},
		},
		{
			name:     "no-recreate",
			desired:  []Service{svc("web", "NEW")},
			observed: []Container{{Name: "p-web-1", Service: "web", Number: 1, Hash: "h1", Running: true}},
			opts:     Options{NoRecreate: true},
		},
		{
			name:     "force-recreate",
			desired:  []Service{svc("web", "h1")},
			observed: []Container{{Name: "p-web-1", Service: "web", Number: 1, Hash: "h1", Running: true}},
			opts:     Options{ForceRecreate: true},
		},
		{
			name:    "scale-down-and-orphans-kept",
			desired: []Service{{Name: "web", Hash: "h", Replicas: 1}},
			observed: []Container{
				{Name: "p-web-1", Service: "web", Number: 1, Hash: "h", Running: true},
				{Name: "p-web-2", Service: "web", Number: 2, Hash: "h", Running: true},
				{Name: "p-old-1", Service: "old", Number: 1, Hash: "x", Running: true},
			},
		},
		{
			name:     "orphans-removed",
			desired:  []Service{svc("web", "h")},
			observed: []Container{{Name: "p-old-1", Service: "old", Number: 1, Hash: "x"}},
			opts:     Options{RemoveOrphans: true},
		},
		{name: "replicas", desired: []Service{{Name: "web", Hash: "h", Replicas: 3}}},
		{
			// Docker Compose counts containers, not numbers: a kept
			// web-2 serves as the one replica, and a new one takes the
			// number after the highest.
			name:    "count-not-numbers",
			desired: []Service{{Name: "web", Hash: "h", Replicas: 2}, {Name: "api", Hash: "h", Replicas: 1}},
			observed: []Container{
				{Name: "p-web-2", Service: "web", Number: 2, Hash: "h", Running: true},
				{Name: "p-api-1", Service: "api", Number: 1, Hash: "old", Running: true},
				{Name: "p-api-3", Service: "api", Number: 3, Hash: "h", Running: true},
			},
		},
		{
			// start-first: each running obsolete replica is replaced by
			// a new number; a stopped one is simply recreated.
			name:    "start-first",
			desired: []Service{{Name: "web", Hash: "new", Replicas: 3, Replace: true}},
			observed: []Container{
				{Name: "p-web-1", Service: "web", Number: 1, Hash: "old", Running: true},
				{Name: "p-web-2", Service: "web", Number: 2, Hash: "old", Running: true},
				{Name: "p-web-3", Service: "web", Number: 3, Hash: "old"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := slices.Clone(tc.desired)
			p, err := Make("p", tc.desired, tc.observed, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "plan-"+tc.name+".txt", []byte(p.String()))
			for i := range before {
				if !slices.Equal(before[i].DependsOn, tc.desired[i].DependsOn) || before[i].Name != tc.desired[i].Name {
					t.Fatalf("Make mutated its input")
				}
			}
		})
	}
}

func TestCycleIsReportedAsPath(t *testing.T) {
	t.Parallel()
	_, err := Make("p", []Service{svc("a", "", "b"), svc("b", "", "c"), svc("c", "", "a")}, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "a -> b -> c -> a") {
		t.Fatalf("got %v, want cycle a -> b -> c -> a", err)
	}
}
