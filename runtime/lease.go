package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
)

// labelLeasePid marks a command's lease with the pid of the command.
const labelLeasePid = "gocompose.pid"

// CommandLease puts the rest of a command under one containerd lease of its
// own (the client then makes none per operation), labelled with the
// command's pid. done deletes it. A command killed before done leaves it
// behind, and SweepLeases of a later command removes it, instead of the
// client's temporary leases lingering for their 24 hours.
func (r *Runtime) CommandLease(ctx context.Context) (context.Context, func(), error) {
	if err := r.SweepLeases(ctx); err != nil {
		return ctx, func() {}, err
	}
	l, err := r.client.LeasesService().Create(ctx, leases.WithRandomID(), leases.WithLabels(map[string]string{
		labelLeasePid:             strconv.Itoa(os.Getpid()),
		"containerd.io/gc.expire": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
	}))
	if err != nil {
		return ctx, func() {}, fmt.Errorf("create the command's lease: %w", conv(err))
	}
	done := func() {
		_ = r.client.LeasesService().Delete(context.WithoutCancel(ctx), l)
	}
	return leases.WithLease(ctx, l.ID), done, nil
}

// SweepLeases deletes the command leases whose command is gone.
func (r *Runtime) SweepLeases(ctx context.Context) error {
	ls, err := r.client.LeasesService().List(ctx, `labels."`+labelLeasePid+`"`)
	if err != nil {
		return fmt.Errorf("list leases: %w", conv(err))
	}
	for _, l := range ls {
		pid, err := strconv.Atoi(l.Labels[labelLeasePid])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if err := r.client.LeasesService().Delete(ctx, l); err != nil {
				return fmt.Errorf("delete the lease of gone command %d: %w", pid, conv(err))
			}
		}
	}
	return nil
}
