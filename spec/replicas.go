package spec

import "github.com/compose-spec/compose-go/v2/types"

// Replicas is how many containers a service wants: scale, else
// deploy.replicas, else 1.
func Replicas(svc types.ServiceConfig) int {
	if svc.Scale != nil {
		return *svc.Scale
	}
	if svc.Deploy != nil && svc.Deploy.Replicas != nil {
		return *svc.Deploy.Replicas
	}
	return 1
}
