package app

import (
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestRestartDependents(t *testing.T) {
	svc := func(name, dep string, restart bool) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		if dep != "" {
			s.DependsOn = types.DependsOnConfig{dep: {Condition: types.ServiceConditionStarted, Restart: restart, Required: true}}
		}
		return s
	}
	p := &types.Project{Services: types.Services{
		"db":     svc("db", "", false),
		"api":    svc("api", "db", true),
		"side":   svc("side", "api", true),
		"worker": svc("worker", "db", false),
		"other":  svc("other", "", false),
	}}
	if got, want := restartDependents(p, []string{"db"}), []string{"api", "db", "side"}; !slices.Equal(got, want) {
		t.Errorf("restart db: %v, want %v", got, want)
	}
	if got, want := restartDependents(p, []string{"worker", "other"}), []string{"other", "worker"}; !slices.Equal(got, want) {
		t.Errorf("restart worker other: %v, want %v", got, want)
	}
}
