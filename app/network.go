package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gocompose/gocompose/internal/labels"
	"github.com/gocompose/gocompose/network"
)

// NetworkLs lists this namespace's networks like `docker network ls`.
func (a *App) NetworkLs(ctx context.Context, quiet bool) error {
	nets, err := a.namespaceNetworks()
	if err != nil {
		return err
	}
	if quiet {
		for _, n := range nets {
			fmt.Fprintln(a.Out, n.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSCOPE\tSUBNET\tBRIDGE")
	for _, n := range nets {
		fmt.Fprintf(tw, "%s\t%s\tbridge\tlocal\t%s\t%s\n", strings.TrimPrefix(n.Bridge, "gc-"), n.Name, n.Subnet, n.Bridge)
	}
	return tw.Flush()
}

// NetworkInspect prints the records of the named networks as JSON, with the
// containers attached to each.
func (a *App) NetworkInspect(ctx context.Context, names []string) error {
	// Docker's shape, so scripts reading .IPAM.Config[0].Subnet or
	// .Containers work as with `docker network inspect`.
	type endpoint struct {
		Name        string `json:"Name"`
		EndpointID  string `json:"EndpointID"`
		MacAddress  string `json:"MacAddress"`
		IPv4Address string `json:"IPv4Address"`
		IPv6Address string `json:"IPv6Address"`
	}
	type ipamConfig struct {
		Subnet  string `json:"Subnet"`
		IPRange string `json:"IPRange,omitempty"`
		Gateway string `json:"Gateway"`
	}
	type ipam struct {
		Driver  string            `json:"Driver"`
		Options map[string]string `json:"Options"`
		Config  []ipamConfig      `json:"Config"`
	}
	type inspect struct {
		Name       string              `json:"Name"`
		ID         string              `json:"Id"`
		Scope      string              `json:"Scope"`
		Driver     string              `json:"Driver"`
		EnableIPv4 bool                `json:"EnableIPv4"`
		EnableIPv6 bool                `json:"EnableIPv6"`
		IPAM       ipam                `json:"IPAM"`
		Internal   bool                `json:"Internal"`
		Attachable bool                `json:"Attachable"`
		Ingress    bool                `json:"Ingress"`
		ConfigOnly bool                `json:"ConfigOnly"`
		Containers map[string]endpoint `json:"Containers"`
		Options    map[string]string   `json:"Options"`
		Labels     map[string]string   `json:"Labels"`
	}
	cs, err := a.Engine.List(ctx, nil)
	if err != nil {
		return err
	}
	res := []inspect{}
	for _, name := range names {
		n, err := a.Net.Get(a.Engine.Namespace(), name)
		if err != nil {
			return fmt.Errorf("network %s not found", name)
		}
		sum := sha256.Sum256([]byte(n.Namespace + "/" + n.Name))
		o := inspect{Name: n.Name, ID: hex.EncodeToString(sum[:]), Scope: "local", Driver: "bridge", EnableIPv4: true,
			IPAM:     ipam{Driver: "default", Config: []ipamConfig{{Subnet: n.Subnet.String(), IPRange: n.IPRange, Gateway: n.Gateway.String()}}},
			Internal: n.Internal, Attachable: n.Attachable, Containers: map[string]endpoint{},
			Options: map[string]string{"com.docker.network.bridge.name": n.Bridge}, Labels: maps.Clone(n.Labels)}
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		if n.Project != "" {
			o.Labels[labels.Project] = n.Project
		}
		if n.MTU > 0 {
			o.Options["com.docker.network.driver.mtu"] = strconv.Itoa(n.MTU)
		}
		if n.Subnet6.IsValid() {
			o.EnableIPv6 = true
			o.IPAM.Config = append(o.IPAM.Config, ipamConfig{Subnet: n.Subnet6.String(), Gateway: n.Gateway6.String()})
		}
		for _, c := range cs {
			eps, err := labels.EndpointsOf(c.Labels)
			if err != nil {
				return fmt.Errorf("container %s: %w", c.ID, err)
			}
			for _, e := range eps {
				if e.Network != name {
					continue
				}
				addr := e.IP
				if ip, err := netip.ParseAddr(e.IP); err == nil {
					addr = netip.PrefixFrom(ip, n.Subnet.Bits()).String()
				}
				addr6 := ""
				if ip, err := netip.ParseAddr(e.IP6); err == nil {
					addr6 = netip.PrefixFrom(ip, n.Subnet6.Bits()).String()
				}
				epSum := sha256.Sum256([]byte(c.ID + "/" + e.Network))
				o.Containers[instanceID(c)] = endpoint{Name: c.ID, EndpointID: hex.EncodeToString(epSum[:]), MacAddress: e.MAC, IPv4Address: addr, IPv6Address: addr6}
			}
		}
		res = append(res, o)
	}
	b, err := json.MarshalIndent(res, "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out, string(b))
	return nil
}

// NetworkPrune removes this namespace's networks that no container uses.
func (a *App) NetworkPrune(ctx context.Context) error {
	nets, err := a.namespaceNetworks()
	if err != nil {
		return err
	}
	users, err := a.networkUsers(ctx)
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, eps := range users {
		for _, e := range eps {
			inUse[e.Network] = true
		}
	}
	var removed []string
	for _, n := range nets {
		if inUse[n.Name] {
			continue
		}
		if err := a.Net.Remove(ctx, n.Namespace, n.Name); err != nil {
			return err
		}
		removed = append(removed, n.Name)
	}
	if len(removed) > 0 {
		fmt.Fprintln(a.Out, "Deleted Networks:")
		for _, n := range removed {
			fmt.Fprintln(a.Out, n)
		}
	}
	return nil
}

func (a *App) namespaceNetworks() ([]network.Network, error) {
	if a.Net == nil {
		return nil, fmt.Errorf("bridge networking is not available")
	}
	all, err := a.Net.List()
	if err != nil {
		return nil, err
	}
	var out []network.Network
	for _, n := range all {
		if n.Namespace == a.Engine.Namespace() {
			out = append(out, n)
		}
	}
	return out, nil
}

// networkUsers maps each attached container to its endpoints.
func (a *App) networkUsers(ctx context.Context) (map[string][]labels.Endpoint, error) {
	cs, err := a.Engine.List(ctx, nil)
	if err != nil {
		return nil, err
	}
	users := map[string][]labels.Endpoint{}
	for _, c := range cs {
		eps, err := labels.EndpointsOf(c.Labels)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.ID, err)
		}
		if len(eps) > 0 {
			users[c.ID] = eps
		}
	}
	return users, nil
}
