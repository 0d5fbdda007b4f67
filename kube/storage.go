package kube

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The volume extension `x-kubernetes` sets what a claim needs and a compose
// file does not say: `size` (default 1Gi) and `storage_class`.
const volumeExtension = "x-kubernetes"

// DefaultVolumeSize is a claim's size when x-kubernetes.size is unset.
const DefaultVolumeSize = "1Gi"

// mounts adds the service's volumes, tmpfs, secrets and configs to the pod.
func (c *converter) mounts(svc types.ServiceConfig, pod *corev1.PodSpec, ctr *corev1.Container) error {
	have := map[string]bool{}
	addVolume := func(v corev1.Volume) {
		if !have[v.Name] {
			have[v.Name] = true
			pod.Volumes = append(pod.Volumes, v)
		}
	}
	for i, v := range svc.Volumes {
		m := corev1.VolumeMount{MountPath: v.Target, ReadOnly: v.ReadOnly}
		if v.Volume != nil && v.Volume.Subpath != "" {
			m.SubPath = v.Volume.Subpath
		}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				m.Name = fmt.Sprintf("anonymous-%d", i)
				addVolume(corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
				c.warnf(svc.Name, "volumes: %s: an anonymous volume becomes an emptyDir (gone with the pod)", v.Target)
				break
			}
			cfg, ok := c.p.Volumes[v.Source]
			if !ok {
				return fmt.Errorf("volumes: undefined volume %s", v.Source)
			}
			m.Name = "volume-" + dnsLabel(v.Source)
			addVolume(corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.claimName(v.Source, cfg), ReadOnly: v.ReadOnly}}})
		case types.VolumeTypeBind:
			if !c.o.HostPaths {
				return fmt.Errorf("volumes: bind mount %s:%s has no Kubernetes form (a node's directory is not this host's); pass --host-paths to make it a hostPath volume", v.Source, v.Target)
			}
			m.Name = fmt.Sprintf("host-%d", i)
			hp := &corev1.HostPathVolumeSource{Path: v.Source}
			if v.Bind == nil || v.Bind.CreateHostPath {
				hp.Type = ptr(corev1.HostPathDirectoryOrCreate)
			}
			addVolume(corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{HostPath: hp}})
			c.warnf(svc.Name, "volumes: %s: a hostPath on whichever node runs the pod (--host-paths)", v.Source)
		case types.VolumeTypeTmpfs:
			m.Name = fmt.Sprintf("tmpfs-%d", i)
			ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				ed.SizeLimit = resource.NewQuantity(int64(v.Tmpfs.Size), resource.BinarySI)
			}
			addVolume(corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: ed}})
		default:
			c.warnf(svc.Name, "volumes: %s (type %s): not converted (no Kubernetes form)", v.Target, v.Type)
			continue
		}
		ctr.VolumeMounts = append(ctr.VolumeMounts, m)
	}
	for i, t := range svc.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		name := fmt.Sprintf("tmpfs-short-%d", i)
		ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
		for _, o := range strings.Split(opts, ",") {
			if v, ok := strings.CutPrefix(o, "size="); ok {
				n, err := units.RAMInBytes(v) // Docker's units: 64m is 64 MiB
				if err != nil {
					return fmt.Errorf("tmpfs %s: size %q: %w", target, v, err)
				}
				ed.SizeLimit = resource.NewQuantity(n, resource.BinarySI)
			}
		}
		addVolume(corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: ed}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: target})
	}
	if svc.ShmSize > 0 {
		addVolume(corev1.Volume{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(int64(svc.ShmSize), resource.BinarySI)}}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "shm", MountPath: "/dev/shm"})
	}
	refs := func(kind string, list []types.FileReferenceConfig, objects map[string]types.FileObjectConfig) {
		for _, ref := range list {
			key := dnsLabel(ref.Source)
			target := ref.Target
			switch {
			case kind == "secret" && target == "":
				target = "/run/secrets/" + ref.Source
			case kind == "secret" && !path.IsAbs(target):
				target = "/run/secrets/" + target
			case target == "":
				target = "/" + ref.Source
			}
			name := kind + "-" + key
			item := corev1.KeyToPath{Key: key, Path: key}
			if ref.Mode != nil {
				item.Mode = ptr(int32(*ref.Mode))
			}
			objName := c.fileObjectName(kind, ref.Source, objects[ref.Source])
			if kind == "secret" {
				addVolume(corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: objName, Items: []corev1.KeyToPath{item}}}})
			} else {
				addVolume(corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: objName}, Items: []corev1.KeyToPath{item}}}})
			}
			ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: target, SubPath: key, ReadOnly: true})
			if ref.UID != "" && ref.UID != "0" {
				c.warnf(svc.Name, "%ss.%s.uid: not converted (Kubernetes mounts %ss as root, readable by the pod's fsGroup)", kind, ref.Source, kind)
			}
			if ref.GID != "" {
				gid, err := strconv.ParseInt(ref.GID, 10, 64)
				switch {
				case err != nil:
					c.warnf(svc.Name, "%ss.%s.gid: %q: not converted (want a number)", kind, ref.Source, ref.GID)
				case pod.SecurityContext != nil && pod.SecurityContext.FSGroup != nil && *pod.SecurityContext.FSGroup != gid:
					c.warnf(svc.Name, "%ss.%s.gid: %d: not converted (the pod's fsGroup is already %d)", kind, ref.Source, gid, *pod.SecurityContext.FSGroup)
				default:
					if pod.SecurityContext == nil {
						pod.SecurityContext = &corev1.PodSecurityContext{}
					}
					pod.SecurityContext.FSGroup = &gid
				}
			}
		}
	}
	var secrets, configs []types.FileReferenceConfig
	for _, s := range svc.Secrets {
		secrets = append(secrets, types.FileReferenceConfig(s))
	}
	for _, s := range svc.Configs {
		configs = append(configs, types.FileReferenceConfig(s))
	}
	secretObjs, configObjs := map[string]types.FileObjectConfig{}, map[string]types.FileObjectConfig{}
	for k, v := range c.p.Secrets {
		secretObjs[k] = types.FileObjectConfig(v)
	}
	for k, v := range c.p.Configs {
		configObjs[k] = types.FileObjectConfig(v)
	}
	refs("secret", secrets, secretObjs)
	refs("config", configs, configObjs)
	return nil
}

// claimName is the claim of a named volume: its own name when external
// (the claim must exist), else the volume's key.
func (c *converter) claimName(key string, cfg types.VolumeConfig) string {
	if cfg.External {
		return dnsLabel(cmp.Or(cfg.Name, key))
	}
	return dnsLabel(key)
}

func (c *converter) fileObjectName(kind, key string, cfg types.FileObjectConfig) string {
	if cfg.External {
		return dnsLabel(cmp.Or(cfg.Name, key))
	}
	return dnsLabel(key)
}

// volumes makes one claim per named volume the services mount, shared by
// all of them: ReadWriteMany when several pods mount it.
func (c *converter) volumes() error {
	users := map[string][]string{}
	pods := map[string]int32{}
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		svc := c.p.Services[name]
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" && !slices.Contains(users[v.Source], name) {
				users[v.Source] = append(users[v.Source], name)
				pods[v.Source] += replicas(svc)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(users)) {
		cfg := c.p.Volumes[key]
		if cfg.External {
			c.warnf("", "volume %s: external: the claim %q must exist in namespace %s", key, c.claimName(key, cfg), c.ns)
			continue
		}
		size, class := DefaultVolumeSize, ""
		if x, ok := cfg.Extensions[volumeExtension].(map[string]any); ok {
			if s, ok := x["size"].(string); ok {
				size = s
			}
			if s, ok := x["storage_class"].(string); ok {
				class = s
			}
			for k := range x {
				if k != "size" && k != "storage_class" {
					return fmt.Errorf("volume %s: %s.%s: unknown key (size, storage_class)", key, volumeExtension, k)
				}
			}
		}
		q, err := resource.ParseQuantity(size)
		if err != nil {
			return fmt.Errorf("volume %s: %s.size %q: %w", key, volumeExtension, size, err)
		}
		mode := corev1.ReadWriteOnce
		if pods[key] > 1 {
			mode = corev1.ReadWriteMany
			c.warnf("", "volume %s: shared by %s (%d pods): its claim is ReadWriteMany, which the storage class must support", key, strings.Join(users[key], ", "), pods[key])
		}
		if cfg.Driver != "" && cfg.Driver != "local" || len(cfg.DriverOpts) > 0 {
			c.warnf("", "volume %s: driver and driver_opts: not converted (the storage class provides the volume; %s.storage_class picks one)", key, volumeExtension)
		}
		pvc := &corev1.PersistentVolumeClaim{TypeMeta: typeMeta("v1", "PersistentVolumeClaim"), ObjectMeta: c.meta(dnsLabel(key), nil),
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{mode},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}}}}
		if class != "" {
			pvc.Spec.StorageClassName = &class
		}
		c.add("", pvc)
	}
	return nil
}

// secretsAndConfigs makes a Secret per secret and a ConfigMap per config
// the services use, holding the file's, variable's or inline content.
func (c *converter) secretsAndConfigs() error {
	used := func(kind string) []string {
		var out []string
		for _, svc := range c.p.Services {
			if kind == "secret" {
				for _, r := range svc.Secrets {
					out = append(out, r.Source)
				}
			} else {
				for _, r := range svc.Configs {
					out = append(out, r.Source)
				}
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	content := func(kind, key string, cfg types.FileObjectConfig) ([]byte, error) {
		switch {
		case cfg.File != "":
			b, err := os.ReadFile(cfg.File)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", kind, key, err)
			}
			return b, nil
		case cfg.Environment != "":
			v, ok := c.p.Environment[cfg.Environment]
			if !ok {
				return nil, fmt.Errorf("%s %s: environment variable %s is not set", kind, key, cfg.Environment)
			}
			return []byte(v), nil
		default:
			return []byte(cfg.Content), nil
		}
	}
	for _, key := range used("secret") {
		cfg := types.FileObjectConfig(c.p.Secrets[key])
		if cfg.External {
			c.warnf("", "secret %s: external: the Secret %q must exist in namespace %s", key, c.fileObjectName("secret", key, cfg), c.ns)
			continue
		}
		b, err := content("secret", key, cfg)
		if err != nil {
			return err
		}
		c.add("", &corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: c.meta(dnsLabel(key), nil), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{dnsLabel(key): b}})
	}
	for _, key := range used("config") {
		cfg := types.FileObjectConfig(c.p.Configs[key])
		if cfg.External {
			c.warnf("", "config %s: external: the ConfigMap %q must exist in namespace %s", key, c.fileObjectName("config", key, cfg), c.ns)
			continue
		}
		b, err := content("config", key, cfg)
		if err != nil {
			return err
		}
		cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: c.meta(dnsLabel(key), nil)}
		if isText(b) {
			cm.Data = map[string]string{dnsLabel(key): string(b)}
		} else {
			cm.BinaryData = map[string][]byte{dnsLabel(key): b}
		}
		c.add("", cm)
	}
	return nil
}

func isText(b []byte) bool {
	return !strings.ContainsRune(string(b), 0) && strings.ToValidUTF8(string(b), "\uFFFD") == string(b)
}
