// Package helper runs gocompose's helper executables (gocompose-build,
// gocompose-bridge): the parts of the CLI that link heavy libraries
// (BuildKit's client, the Kubernetes API types) live in executables of
// their own, so that the commands that do not use them do not load them.
// A helper gets one request as JSON on stdin and answers with one reply as
// JSON on stdout.
package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Find looks for the executable name beside the running one, then on PATH.
func Find(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found beside gocompose or on PATH (make build puts it beside gocompose)", name)
}

// Call runs exe once in the current directory: q as JSON on its stdin, its
// stdout decoded into reply. Its stderr goes to stderr (nil: kept for the
// error when it fails without a reply). Cancelling ctx sends it SIGTERM
// (then SIGKILL after 10 s). Its stdin stays open until it ends: when this
// process dies, however it dies, the helper reads EOF and stops (Request).
// A helper that ends without a reply is an error naming it.
func Call(ctx context.Context, exe string, q, reply any, stderr io.Writer) error {
	in, err := json.Marshal(q)
	if err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pw.Close()
	var stdout, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, &stdout, stderr
	if stderr == nil {
		cmd.Stderr = &errb
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Start()
	pr.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(exe), err)
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = pw.Write(append(in, '\n')) // fails only when the helper is gone
	}()
	runErr := cmd.Wait()
	pw.Close()
	<-wrote
	if err := json.Unmarshal(stdout.Bytes(), reply); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if runErr == nil {
			runErr = fmt.Errorf("its reply: %w", err)
		}
		if msg := strings.TrimSpace(errb.String()); msg != "" {
			runErr = fmt.Errorf("%w: %s", runErr, msg)
		}
		return fmt.Errorf("%s: %w", filepath.Base(exe), runErr)
	}
	return nil
}

// Request is the helper's side: it decodes the request on stdin into q and
// returns ctx, also cancelled when stdin ends (the caller is gone: Call
// keeps it open while it waits).
func Request(ctx context.Context, q any) (context.Context, context.CancelFunc, error) {
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(q); err != nil {
		return ctx, func() {}, fmt.Errorf("read the request: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, io.MultiReader(dec.Buffered(), os.Stdin))
		cancel()
	}()
	return ctx, cancel, nil
}

// Main is a helper's main: it reads the request, answers it (ctx ends on
// SIGTERM, an interrupt or the end of stdin), writes the reply on stdout
// and exits; a request it cannot read, or a reply it cannot write, exits 1
// with name and the error on stderr.
func Main[Q, R any](name string, answer func(context.Context, Q) R) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var q Q
	ctx, cancel, err := Request(ctx, &q)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(answer(ctx, q))
		cancel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
