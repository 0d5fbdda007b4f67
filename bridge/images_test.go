package bridge

import "testing"

func TestPushedName(t *testing.T) {
	for image, want := range map[string]string{
		"seed-frontend":              "127.0.0.1:5000/seed-frontend:latest",
		"example/api:2":              "127.0.0.1:5000/example/api:2",
		"registry.example:443/a/b:c": "127.0.0.1:5000/a/b:c",
	} {
		if got, err := PushedName("127.0.0.1:5000/", image); err != nil || got != want {
			t.Errorf("PushedName(%q) = %q, %v; want %q", image, got, err, want)
		}
	}
	if _, err := PushedName("https://r", "x"); err == nil {
		t.Error("a URL was taken as a registry")
	}
}
