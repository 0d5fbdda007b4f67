package spec

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// FieldError is an error about one field of one service; Locate adds the file
// and line where the field is written.
type FieldError struct {
	Service string
	Field   string // dotted path below the service, e.g. "deploy.restart_policy"
	Err     error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("service %q: %v", e.Service, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// LocatedError is a load error with the file and line it points at.
type LocatedError struct {
	File string
	Line int
	Err  error
}

func (e *LocatedError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *LocatedError) Unwrap() error { return e.Err }

var (
	// compose-go's schema errors: "validating FILE: a.b.c message"
	validatingRe = regexp.MustCompile(`^validating (.+?): ([A-Za-z0-9_.\-]+) (.*)$`)
	// compose-go's (docker/go-connections') port syntax errors, which name
	// only the value: "invalid hostPort: 70000"
	portRe = regexp.MustCompile(`^invalid (hostPort|containerPort|proto|port|IP address)[^:]*: (\S+)`)
	// compose-go's decode errors: "'services[web].mem_limit' invalid size"
	decodeRe = regexp.MustCompile(`'([a-z_]+)\[([^\]]+)\]\.([A-Za-z0-9_.]+)' (.*)`)
)

// locate turns a load error into one naming file, line and key where it can.
// compose-go reports only a path into the merged model for most errors, so
// the path is looked up in the YAML of each file.
func locate(err error, files []string) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		path := append([]string{"services", fe.Service}, strings.Split(fe.Field, ".")...)
		if file, line := findPath(files, path); file != "" {
			return &LocatedError{File: file, Line: line, Err: err}
		}
		return err
	}
	msg := err.Error()
	if m := validatingRe.FindStringSubmatch(msg); m != nil {
		what := m[3]
		if what == "false schema" {
			what = "additional property " + lastElem(m[2]) + " is not allowed"
		}
		_, line := findPath([]string{m[1]}, strings.Split(m[2], "."))
		return &LocatedError{File: m[1], Line: line, Err: fmt.Errorf("%s: %s", m[2], what)}
	}
	if m := decodeRe.FindStringSubmatch(msg); m != nil {
		path := append([]string{m[1], m[2]}, strings.Split(m[3], ".")...)
		if file, line := findPath(files, path); file != "" {
			return &LocatedError{File: file, Line: line, Err: fmt.Errorf("%s.%s.%s: %s", m[1], m[2], m[3], m[4])}
		}
	}
	if m := portRe.FindStringSubmatch(msg); m != nil {
		if file, line, svc, i := findPort(files, m[2]); file != "" {
			return &LocatedError{File: file, Line: line, Err: fmt.Errorf("services.%s.ports.%d: service %s: %s", svc, i, svc, msg)}
		}
	}
	if strings.HasPrefix(msg, "yaml:") {
		for _, f := range files {
			b, rerr := os.ReadFile(f)
			if rerr != nil {
				continue
			}
			var n yaml.Node
			if yaml.Unmarshal(b, &n) != nil {
				return &LocatedError{File: f, Err: err}
			}
		}
	}
	return err
}

// findPort finds the short-syntax ports entry holding value: the file,
// line, service and index of the first one.
func findPort(files []string, value string) (file string, line int, service string, index int) {
	eachDoc(files, func(f string, root *yaml.Node) bool {
		services := mapValue(root, "services")
		if services == nil {
			return false
		}
		for i := 0; i+1 < len(services.Content); i += 2 {
			ports := mapValue(services.Content[i+1], "ports")
			if ports == nil || ports.Kind != yaml.SequenceNode {
				continue
			}
			for j, item := range ports.Content {
				if item.Kind == yaml.ScalarNode && strings.Contains(item.Value, value) {
					file, line, service, index = f, item.Line, services.Content[i].Value, j
					return true
				}
			}
		}
		return false
	})
	return file, line, service, index
}

// eachDoc calls fn with the root node of each readable YAML file (stdin
// excepted) until fn returns true.
func eachDoc(files []string, fn func(file string, root *yaml.Node) bool) {
	for _, f := range files {
		if f == "-" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		if fn(f, doc.Content[0]) {
			return
		}
	}
}

// mapValue is the value of key in a YAML mapping, nil when absent.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func lastElem(p string) string {
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[i+1:]
	}
	return p
}

// findPath returns the last file (files override earlier ones) holding the
// key path, and its line; it falls back to the deepest prefix found.
func findPath(files []string, path []string) (string, int) {
	bestFile, bestLine, bestDepth := "", 0, 0
	eachDoc(files, func(f string, root *yaml.Node) bool {
		line, depth := walk(root, path)
		if depth > 0 && depth >= bestDepth {
			bestFile, bestLine, bestDepth = f, line, depth
		}
		return false
	})
	return bestFile, bestLine
}

func walk(n *yaml.Node, path []string) (line, depth int) {
	line = n.Line
	for _, key := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line, depth
		}
		n = next
		depth++
	}
	return line, depth
}

// At names where in the project's files the key path (for example
// "services", "web", "ports", "0") is written, for errors found after
// loading (a port or subnet that conflicts on this host); err unchanged
// when the path is in no file.
func At(p *types.Project, err error, path ...string) error {
	if file, line := findPath(p.ComposeFiles, path); file != "" {
		return &LocatedError{File: file, Line: line, Err: fmt.Errorf("%s: %w", strings.Join(path, "."), err)}
	}
	return err
}
