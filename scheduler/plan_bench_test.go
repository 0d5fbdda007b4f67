package scheduler

import (
	"fmt"
	"testing"
)

func benchPlan(b *testing.B, n int) {
	var desired []Service
	var observed []Container
	for i := 0; i < n; i++ {
		s := Service{Name: fmt.Sprintf("s%04d", i), Hash: "h", Replicas: 1}
		if i > 0 {
			s.DependsOn = []string{fmt.Sprintf("s%04d", i-1)}
		}
		desired = append(desired, s)
		if i%2 == 0 {
			observed = append(observed, Container{Name: fmt.Sprintf("p-s%04d-1", i), Service: s.Name, Number: 1, Hash: "old", Running: true})
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Make("p", desired, observed, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlan100(b *testing.B)  { benchPlan(b, 100) }
func BenchmarkPlan1000(b *testing.B) { benchPlan(b, 1000) }
