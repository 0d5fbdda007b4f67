// Package auth finds registry credentials where the docker CLI keeps them:
// config.json in DOCKER_CONFIG or ~/.docker, with inline "auths" entries,
// "credsStore" and "credHelpers" (docker-credential-<name> programs).
package auth

import (
	"fmt"

	"github.com/docker/cli/cli/config"
)

// dockerHubKey is the key Docker Hub's credentials are stored under.
const dockerHubKey = "https://index.docker.io/v1/"

// Dir is the docker config directory: DOCKER_CONFIG, else ~/.docker.
func Dir() string { return config.Dir() }

// Credentials returns a lookup for containerd's resolver: the user name and
// secret for a registry host ("" and "" when none is stored). An identity
// token is returned as the secret with an empty user name, as containerd
// expects a refresh token.
func Credentials(dir string) func(host string) (string, string, error) {
	return func(host string) (string, string, error) {
		cfg, err := config.Load(dir)
		if err != nil {
			return "", "", fmt.Errorf("registry credentials: %w", err)
		}
		key := host
		if host == "registry-1.docker.io" || host == "docker.io" {
			key = dockerHubKey
		}
		ac, err := cfg.GetAuthConfig(key)
		if err != nil {
			return "", "", fmt.Errorf("registry credentials for %s (from %s): %w", host, cfg.Filename, err)
		}
		if ac.IdentityToken != "" {
			return "", ac.IdentityToken, nil
		}
		return ac.Username, ac.Password, nil
	}
}
