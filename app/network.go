package app

import (
	"context"
	"encoding/json"
	"fmt"
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
	type attached struct {
		Name    string `json:"Name"`
		IPv4    string `json:"IPv4Address"`
		Aliases []string
	}
	type out struct {
		network.Network
		Containers map[string]attached `json:"Containers"`
	}
	var res []out
	for _, name := range names {
		n, err := a.Net.Get(a.Engine.Namespace(), name)
		if err != nil {
			return fmt.Errorf("network %s not found", name)
		}
		o := out{Network: *n, Containers: map[string]attached{}}
		users, err := a.networkUsers(ctx)
		if err != nil {
			return err
		}
		for id, eps := range users {
			for _, e := range eps {
				if e.Network == name {
					o.Containers[id] = attached{Name: id, IPv4: e.IP, Aliases: e.Names}
				}
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
		var eps []labels.Endpoint
		if json.Unmarshal([]byte(c.Labels[labels.Networks]), &eps) == nil && len(eps) > 0 {
			users[c.ID] = eps
		}
	}
	return users, nil
}
