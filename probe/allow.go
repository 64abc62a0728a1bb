package probe

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// AllowList restricts what may be probed. Host patterns ("host.example.com", "*.example.com",
// "*") restrict names, CIDRs and IP literals restrict the addresses that names resolve to; when
// both kinds are given both must hold, so an allowed name that resolves to a forbidden address
// (DNS rebinding to 169.254.169.254, say) is still refused. A nil or empty list allows all.
type AllowList struct {
	hosts []string
	nets  []netip.Prefix
	key   string // the normalised patterns, to tell lists apart
}

// newAllowList parses probe.allowed_targets.
func newAllowList(patterns []string) (*AllowList, error) {
	a := &AllowList{}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "":
			return nil, fmt.Errorf("allowed target pattern is empty")
		case strings.Contains(p, "/"):
			n, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("allowed target %q: %w", p, err)
			}
			a.nets = append(a.nets, n.Masked())
		default:
			if ip, err := netip.ParseAddr(p); err == nil {
				ip = ip.Unmap()
				a.nets = append(a.nets, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			a.hosts = append(a.hosts, strings.TrimSuffix(p, "."))
		}
	}
	parts := slices.Clone(a.hosts)
	for _, n := range a.nets {
		parts = append(parts, n.String())
	}
	a.key = strings.Join(parts, ",")
	return a, nil
}

// String returns the list's normalised patterns, comma-joined.
func (a *AllowList) String() string {
	if a == nil {
		return ""
	}
	return a.key
}

// AllowHost is the check made before resolving, so that refused names are not even looked up.
func (a *AllowList) AllowHost(host string) bool {
	if a == nil || len(a.hosts) == 0 {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		// An address literal is judged by the CIDRs alone; with none it is not a listed name.
		return len(a.nets) > 0
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, p := range a.hosts {
		switch {
		case p == "*" || p == host:
			return true
		case strings.HasPrefix(p, "*.") && strings.HasSuffix(host, p[1:]) && len(host) > len(p)-1:
			return true
		}
	}
	return false
}

// HasNets reports whether addresses are restricted (then an address hidden behind a proxy
// cannot be checked).
func (a *AllowList) HasNets() bool { return a != nil && len(a.nets) > 0 }

// AllowIP is the check made on every resolved address.
func (a *AllowList) AllowIP(ip netip.Addr) bool {
	if !a.HasNets() {
		return true
	}
	ip = ip.Unmap().WithZone("")
	for _, n := range a.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
