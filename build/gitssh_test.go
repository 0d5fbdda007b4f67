package build

import "testing"

func TestIsGitSSH(t *testing.T) {
	for c, want := range map[string]bool{
		"git@github.com:docker/compose.git": true, "ssh://git@example.com/repo.git#main": true,
		"https://example.com/repo.git": false, "http://127.0.0.1:8080/ctx.tar": false, "/home/me/app": false,
	} {
		if got := IsGitSSH(c); got != want {
			t.Errorf("IsGitSSH(%q) = %v, want %v", c, got, want)
		}
	}
}
