package activities

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// What a site worker sees of its site's networks, without sending a packet: its host's
// neighbour table, the IP and MAC address of every device the host exchanged traffic with on
// its links. Scanning a control network actively can upset old controllers; reading the table
// cannot. The central worker records each neighbour as a sighting (docs/unknown-devices.md).

// DefaultNeighborsFile is the Linux kernel's IPv4 neighbour (ARP) table.
const DefaultNeighborsFile = "/proc/net/arp"

// MaxNeighbors bounds the neighbours one report carries.
const MaxNeighbors = 5000

// Neighbor is one complete entry of the neighbour table.
type Neighbor struct {
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
}

// ParseNeighbors reads the kernel's ARP table (/proc/net/arp): complete entries only (flag
// ATF_COM), none without a hardware address.
func ParseNeighbors(r io.Reader) ([]Neighbor, error) {
	sc := bufio.NewScanner(r)
	var out []Neighbor
	first := true
	for sc.Scan() {
		if first {
			first = false
			if !strings.HasPrefix(sc.Text(), "IP address") {
				return nil, fmt.Errorf("not the kernel's ARP table: its first line is %q", sc.Text())
			}
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		var flags int
		if _, err := fmt.Sscanf(f[2], "0x%x", &flags); err != nil || flags&0x2 == 0 {
			continue // incomplete: the host asked and nobody answered
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		hw, err := net.ParseMAC(f[3])
		if err != nil || len(hw) != 6 || hw.String() == "00:00:00:00:00:00" {
			continue
		}
		out = append(out, Neighbor{IP: ip.String(), MAC: hw.String(), Interface: f[5]})
		if len(out) == MaxNeighbors {
			break
		}
	}
	return out, sc.Err()
}

// SiteNeighborsResult is what a site worker saw.
type SiteNeighborsResult struct {
	Worker    string     `json:"worker"`
	Neighbors []Neighbor `json:"neighbors"`
}

// SiteNeighbors reads this worker's neighbour table (Device.NeighborsFile, else the kernel's).
func (d *Device) SiteNeighbors(ctx context.Context) (SiteNeighborsResult, error) {
	path := d.NeighborsFile
	if path == "" {
		path = DefaultNeighborsFile
	}
	f, err := os.Open(path)
	if err != nil {
		return SiteNeighborsResult{}, fmt.Errorf("read the neighbour table: %w", err)
	}
	defer f.Close()
	ns, err := ParseNeighbors(f)
	if err != nil {
		return SiteNeighborsResult{}, fmt.Errorf("read the neighbour table %s: %w", path, err)
	}
	return SiteNeighborsResult{Worker: d.Worker, Neighbors: ns}, nil
}

// SiteRef names a site.
type SiteRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// SitesWithWorkers lists the sites whose device work runs on their own site workers.
func (a *Activities) SitesWithWorkers(ctx context.Context) ([]SiteRef, error) {
	sites, err := a.Store.Sites(ctx)
	if err != nil {
		return nil, err
	}
	var out []SiteRef
	for _, s := range sites {
		if s.DeviceWork == domain.DeviceWorkSiteWorker {
			out = append(out, SiteRef{ID: s.ID, Name: s.Name})
		}
	}
	return out, nil
}

// SiteNeighborsRecord is what a site's worker saw, to record.
type SiteNeighborsRecord struct {
	SiteID   string `json:"site_id"`
	SiteName string `json:"site_name"`
	SiteNeighborsResult
}

// RecordSiteNeighbors records each neighbour a site worker saw as a sighting: a device no
// asset knows raises an alarm and a discovery, one seen before has its last seen moved.
func (a *Activities) RecordSiteNeighbors(ctx context.Context, in SiteNeighborsRecord) (store.SightingsResult, error) {
	now := a.now().UTC()
	sightings := make([]store.Sighting, 0, len(in.Neighbors))
	for _, n := range in.Neighbors {
		sightings = append(sightings, store.Sighting{Addresses: []string{n.IP}, MACs: []string{n.MAC}, SeenAt: now})
	}
	ev := store.Event{Actor: "otpatch", Role: "system", Action: "discovery.site_reported",
		Details: map[string]any{"site_id": in.SiteID, "worker": in.Worker, "rows": len(sightings)}}
	return a.Store.RecordSightings(ctx, store.SourceSite, "site worker of "+in.SiteName, sightings, ev)
}
