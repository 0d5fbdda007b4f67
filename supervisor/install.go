package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
)

// unit keeps the supervisor running across reboots so restart policies
// and DNS come back on edge devices; containerd must start first.
const unit = `[Unit]
Description=gocompose supervisor (DNS, healthchecks, restart policies)
After=containerd.service network-online.target
Wants=containerd.service

[Service]
ExecStart=%s supervisor --address %s
Environment=GOCOMPOSE_ROOT=%s
Environment=GOCOMPOSE_STATE=%s
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`

// UnitPath is where Install writes the systemd unit.
const UnitPath = "/etc/systemd/system/gocompose-supervisor.service"

// Install writes the systemd unit for exe and returns its path; enabling it
// is left to `systemctl enable --now`, which the caller prints.
func Install(path, exe, address, root, state string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	content := fmt.Sprintf(unit, exe, address, root, state)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
