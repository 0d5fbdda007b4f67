package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// unit keeps the supervisor running across reboots so restart policies
// and DNS come back on edge devices; containerd must start first.
const unit = `[Unit]
Description=gocompose supervisor (DNS, healthchecks, restart policies)
After=containerd.service network-online.target
Wants=containerd.service

[Service]
ExecStart=%s --address %s
Environment=GOCOMPOSE_ROOT=%s
Environment=GOCOMPOSE_STATE=%s
Restart=always
RestartSec=2
# Containers' shims (and a private containerd) outlive a supervisor restart.
KillMode=process

[Install]
WantedBy=multi-user.target
`

// initScript is the same for hosts without systemd (SysV init, OpenRC's
// compatibility, BusyBox init with an rc script): a supervisor under its
// watchdog, started after containerd.
const initScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          gocompose-supervisor
# Required-Start:    $network $local_fs containerd
# Required-Stop:     $network $local_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: gocompose supervisor (DNS, healthchecks, restart policies, containers back after boot)
### END INIT INFO
export GOCOMPOSE_ROOT=%[3]s GOCOMPOSE_STATE=%[4]s
PIDFILE=%[4]s/supervisor-watchdog.pid
case "$1" in
start)
	mkdir -p "$GOCOMPOSE_STATE"
	setsid %[1]s --watchdog --address %[2]s >>/var/log/gocompose-supervisor.log 2>&1 < /dev/null &
	;;
stop)
	[ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")"
	[ -f "$GOCOMPOSE_STATE/supervisor.pid" ] && kill "$(cat "$GOCOMPOSE_STATE/supervisor.pid")"
	;;
restart)
	"$0" stop; sleep 1; "$0" start
	;;
status)
	[ -f "$GOCOMPOSE_STATE/supervisor.pid" ] && kill -0 "$(cat "$GOCOMPOSE_STATE/supervisor.pid")" 2>/dev/null && echo running && exit 0
	echo stopped; exit 3
	;;
*)
	echo "usage: $0 start|stop|restart|status"; exit 2
	;;
esac
`

// InitScriptPath is where InstallInitScript writes by default.
const InitScriptPath = "/etc/init.d/gocompose-supervisor"

// InstallInitScript writes the SysV init script for exe.
func InstallInitScript(path, exe, address, root, state string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf(initScript, commandLine(exe), address, root, state)), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// UnitPath is where Install writes the systemd unit.
const UnitPath = "/etc/systemd/system/gocompose-supervisor.service"

// Install writes the systemd unit for exe and returns its path; enabling it
// is left to `systemctl enable --now`, which the caller prints.
func Install(path, exe, address, root, state string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	content := fmt.Sprintf(unit, commandLine(exe), address, root, state)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// commandLine is how an init system starts the supervisor of the gocompose
// binary exe (see Command).
func commandLine(exe string) string {
	bin, args := Command(exe)
	return strings.Join(append([]string{bin}, args...), " ")
}
