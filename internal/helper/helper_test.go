package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is also the helper: with HELPER_MODE set it answers one
// request the way the mode says, through Request.
func TestMain(m *testing.M) {
	if mode := os.Getenv("HELPER_MODE"); mode != "" {
		os.Exit(fakeHelper(mode))
	}
	os.Exit(m.Run())
}

type request struct{ Word string }
type reply struct{ Echo string }

func fakeHelper(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var q request
	ctx, cancel, err := Request(ctx, &q)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cancel()
	switch mode {
	case "echo":
		fmt.Printf("{\"Echo\": %q}\n", strings.ToUpper(q.Word))
	case "crash":
		fmt.Fprintln(os.Stderr, "helper fell over")
		return 3
	case "wait": // until cancelled: SIGTERM or the end of stdin
		<-ctx.Done()
		if os.Getenv("HELPER_MARK") != "" {
			_ = os.WriteFile(os.Getenv("HELPER_MARK"), []byte("cancelled"), 0o644)
		}
		fmt.Println(`{"Echo": "cancelled"}`)
	}
	return 0
}

func call(t *testing.T, ctx context.Context, mode string, q request) (reply, error) {
	t.Helper()
	t.Setenv("HELPER_MODE", mode)
	var r reply
	err := Call(ctx, os.Args[0], q, &r, nil)
	return r, err
}

func TestCallSendsTheRequestAndReadsTheReply(t *testing.T) {
	r, err := call(t, context.Background(), "echo", request{Word: "hello"})
	if err != nil || r.Echo != "HELLO" {
		t.Fatalf("Call = %+v, %v; want HELLO", r, err)
	}
}

func TestCallNamesAHelperThatEndsWithoutAReply(t *testing.T) {
	_, err := call(t, context.Background(), "crash", request{})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "helper fell over") {
		t.Fatalf("Call of a crashing helper: %v", err)
	}
}

func TestCallCancelledStopsTheHelper(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := call(t, ctx, "wait", request{})
	// The helper got SIGTERM and answered, or was gone before it could.
	if !(err == nil && r.Echo == "cancelled") && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call cancelled: %+v, %v", r, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the cancelled helper took %v to stop", took)
	}
}

// The helper's context ends when its stdin does: what happens when the
// caller dies, whatever kills it.
func TestRequestEndsWhenStdinEnds(t *testing.T) {
	mark := t.TempDir() + "/mark"
	t.Setenv("HELPER_MODE", "wait")
	t.Setenv("HELPER_MARK", mark)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	p, err := os.StartProcess(os.Args[0], []string{os.Args[0]}, &os.ProcAttr{Files: []*os.File{r, devnull, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := w.WriteString(`{"Word": "x"}` + "\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("the helper stopped while its stdin was open")
	}
	w.Close() // as when the caller dies
	done := make(chan error, 1)
	go func() { _, err := p.Wait(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		_ = p.Kill()
		t.Fatal("the helper did not stop when its stdin ended")
	}
	if b, err := os.ReadFile(mark); err != nil || string(b) != "cancelled" {
		t.Errorf("the helper's context was not cancelled: %q, %v", b, err)
	}
}
