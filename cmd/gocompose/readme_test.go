package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestReadmeListsEveryFlag keeps the README's command table in step with the
// command definitions: every command has a row, and every flag it takes
// (hidden compatibility ones included) is named in it.
func TestReadmeListsEveryFlag(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // command path -> its row
	row := regexp.MustCompile("^\\| ((?:`[^`]+`(?:, )?)+) \\|(.*)\\|\\s*$")
	name := regexp.MustCompile("`([a-z][a-z -]*?)(?: [A-Z\\[].*?)?`")
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, c := range name.FindAllStringSubmatch(m[1], -1) {
			rows[c[1]] = m[2]
		}
	}
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			p := strings.TrimSpace(path + " " + sub.Name())
			if sub.HasSubCommands() {
				walk(sub, p)
				continue
			}
			r, ok := rows[p]
			if !ok {
				t.Errorf("README's command table has no row for `%s`", p)
				continue
			}
			sub.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" {
					return
				}
				if !strings.Contains(r, "`--"+f.Name) && !strings.Contains(r, "--"+f.Name+"`") &&
					!strings.Contains(r, "--"+f.Name+",") && !strings.Contains(r, "--"+f.Name+" ") &&
					(f.Shorthand == "" || !strings.Contains(r, "`-"+f.Shorthand)) {
					t.Errorf("README's row for `%s` does not name --%s", p, f.Name)
				}
			})
		}
	}
	walk(newRoot(), "")
}
