package runtime

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/cgroups/v3"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// withNamespaces shares the host's PID, IPC or UTS namespace for pid: host,
// ipc: host and uts: host; ipc private or shareable keep the container's
// own (the default). A container on the host's UTS namespace keeps the
// host's name. cgroup: private gives the container its own cgroup
// namespace, host keeps the host's; unset, it is Docker's default: private
// on a cgroup v2 host, the host's on cgroup v1.
func withNamespaces(svc types.ServiceConfig) oci.SpecOpts {
	cgroupns := svc.Cgroup == "private" || (svc.Cgroup == "" && cgroups.Mode() == cgroups.Unified)
	if svc.Pid != "host" && svc.Ipc != "host" && svc.Uts != "host" && !cgroupns {
		return none
	}
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if cgroupns {
			if err := oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace})(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		if svc.Pid == "host" {
			if err := oci.WithHostNamespace(specs.PIDNamespace)(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		if svc.Ipc == "host" {
			if err := oci.WithHostNamespace(specs.IPCNamespace)(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		if svc.Uts == "host" {
			if err := oci.WithHostNamespace(specs.UTSNamespace)(ctx, c, ctr, s); err != nil {
				return err
			}
			s.Hostname, s.Domainname = "", ""
		}
		return nil
	}
}

// withCgroupParent puts the container's cgroup under cgroup_parent.
func withCgroupParent(svc types.ServiceConfig, id string) oci.SpecOpts {
	if svc.CgroupParent == "" {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.CgroupsPath = path.Join("/", svc.CgroupParent, id)
		return nil
	}
}

// withMemoryExtras applies memswap_limit (memory plus swap, -1 unlimited,
// as Docker), mem_swappiness and oom_kill_disable.
func withMemoryExtras(svc types.ServiceConfig) oci.SpecOpts {
	if svc.MemSwapLimit == 0 && svc.MemSwappiness == 0 && !svc.OomKillDisable {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		m := ensureMemory(s)
		if svc.MemSwapLimit != 0 {
			swap := int64(svc.MemSwapLimit)
			m.Swap = &swap
		}
		if svc.MemSwappiness != 0 {
			v := uint64(svc.MemSwappiness)
			m.Swappiness = &v
		}
		if svc.OomKillDisable {
			t := true
			m.DisableOOMKiller = &t
		}
		return nil
	}
}

// withCPUExtras applies cpu_period and cpu_quota (over what cpus set) and
// the real-time scheduler's cpu_rt_period and cpu_rt_runtime.
func withCPUExtras(svc types.ServiceConfig) oci.SpecOpts {
	if svc.CPUPeriod == 0 && svc.CPUQuota == 0 && svc.CPURTPeriod == 0 && svc.CPURTRuntime == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		c := ensureCPU(s)
		if svc.CPUPeriod > 0 {
			p := uint64(svc.CPUPeriod)
			c.Period = &p
		}
		if svc.CPUQuota != 0 {
			q := svc.CPUQuota
			c.Quota = &q
		}
		if svc.CPURTPeriod > 0 {
			p := uint64(svc.CPURTPeriod)
			c.RealtimePeriod = &p
		}
		if svc.CPURTRuntime != 0 {
			r := svc.CPURTRuntime
			c.RealtimeRuntime = &r
		}
		return nil
	}
}

// withAnnotations copies annotations into the OCI spec.
func withAnnotations(svc types.ServiceConfig) oci.SpecOpts {
	if len(svc.Annotations) == 0 {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range svc.Annotations {
			s.Annotations[k] = v
		}
		return nil
	}
}

// withBlkio applies blkio_config: weight, weight_device and the read/write
// bps and iops limits, devices given by path.
func withBlkio(svc types.ServiceConfig) oci.SpecOpts {
	b := svc.BlkioConfig
	if b == nil {
		return none
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		r := ensureResources(s)
		if r.BlockIO == nil {
			r.BlockIO = &specs.LinuxBlockIO{}
		}
		if b.Weight > 0 {
			w := b.Weight
			r.BlockIO.Weight = &w
		}
		for _, d := range b.WeightDevice {
			major, minor, err := deviceNumbers(d.Path)
			if err != nil {
				return err
			}
			w := d.Weight
			wd := specs.LinuxWeightDevice{Weight: &w}
			wd.Major, wd.Minor = major, minor
			r.BlockIO.WeightDevice = append(r.BlockIO.WeightDevice, wd)
		}
		for _, set := range []struct {
			from []types.ThrottleDevice
			to   *[]specs.LinuxThrottleDevice
		}{
			{b.DeviceReadBps, &r.BlockIO.ThrottleReadBpsDevice},
			{b.DeviceWriteBps, &r.BlockIO.ThrottleWriteBpsDevice},
			{b.DeviceReadIOps, &r.BlockIO.ThrottleReadIOPSDevice},
			{b.DeviceWriteIOps, &r.BlockIO.ThrottleWriteIOPSDevice},
		} {
			for _, d := range set.from {
				major, minor, err := deviceNumbers(d.Path)
				if err != nil {
					return err
				}
				td := specs.LinuxThrottleDevice{Rate: uint64(d.Rate)}
				td.Major, td.Minor = major, minor
				*set.to = append(*set.to, td)
			}
		}
		return nil
	}
}

// deviceNumbers is a block device's major and minor number.
func deviceNumbers(p string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, 0, fmt.Errorf("blkio_config device %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, fmt.Errorf("blkio_config device %s: %w", p, os.ErrInvalid)
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
}
