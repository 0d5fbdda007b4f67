package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// ServiceHash is the config hash stored on containers: a change to anything
// that shapes the container changes it; scale and dependency ordering don't.
func ServiceHash(svc types.ServiceConfig) (string, error) {
	o := svc
	o.Scale = nil
	o.DependsOn = nil
	o.Profiles = nil
	o.PullPolicy = ""
	if svc.Deploy != nil {
		d := *svc.Deploy
		d.Replicas = nil
		o.Deploy = &d
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("hash service %s: %w", svc.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

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
