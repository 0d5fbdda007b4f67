package auth

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInlineAuth(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	dir := writeConfig(t, `{"auths":{"127.0.0.1:5000":{"auth":"`+enc+`"},
		"https://index.docker.io/v1/":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("hub:pw"))+`"},
		"tok.example":{"identitytoken":"refresh-me"}}}`)
	creds := Credentials(dir)
	for _, tc := range []struct{ host, user, secret string }{
		{"127.0.0.1:5000", "alice", "s3cret"},
		{"registry-1.docker.io", "hub", "pw"},
		{"tok.example", "", "refresh-me"},
		{"other.example", "", ""},
	} {
		u, s, err := creds(tc.host)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if u != tc.user || s != tc.secret {
			t.Errorf("%s: got %q/%q, want %q/%q", tc.host, u, s, tc.user, tc.secret)
		}
	}
}

func TestMissingConfigMeansNoCredentials(t *testing.T) {
	u, s, err := Credentials(t.TempDir())("127.0.0.1:5000")
	if err != nil || u != "" || s != "" {
		t.Fatalf("got %q %q %v", u, s, err)
	}
}

func TestCredentialHelper(t *testing.T) {
	bin := t.TempDir()
	// A credential helper reads the server URL on stdin for "get".
	helper := `#!/bin/sh
[ "$1" = get ] || exit 1
read host
if [ "$host" = "127.0.0.1:5001" ]; then
  echo '{"ServerURL":"127.0.0.1:5001","Username":"bob","Secret":"from-helper"}'
else
  echo "credentials not found in native keychain"; exit 1
fi
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := writeConfig(t, `{"credHelpers":{"127.0.0.1:5001":"fake"}}`)
	u, s, err := Credentials(dir)("127.0.0.1:5001")
	if err != nil {
		t.Fatal(err)
	}
	if u != "bob" || s != "from-helper" {
		t.Fatalf("got %q/%q", u, s)
	}
}

func TestBrokenConfigIsAnError(t *testing.T) {
	dir := writeConfig(t, `{"auths":`)
	if _, _, err := Credentials(dir)("127.0.0.1:5000"); err == nil {
		t.Fatal("want an error for a truncated config.json")
	}
}
