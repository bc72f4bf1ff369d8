package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Unknown devices. Agents report their host and engineers import network scans; each sighting
// is matched against the inventory by its keys (sighting.go of the API checks them first). A
// device that no asset knows becomes a discovery with an alarm, until a person claims it for an
// asset (whose identities then include its keys) or rejects it.

// Discovery states.
const (
	DiscoveryOpen     = "open"
	DiscoveryClaimed  = "claimed"
	DiscoveryRejected = "rejected"
)

// DiscoveryStates lists the states of a discovery.
func DiscoveryStates() []string { return []string{DiscoveryOpen, DiscoveryClaimed, DiscoveryRejected} }

// Sighting sources.
const (
	SourceAgent  = "agent"
	SourceImport = "import"
	SourceSite   = "site"
)

// AlarmUnknownDevice is the kind of the alarm a discovery raises.
const AlarmUnknownDevice = "unknown_device"

// Sighting is one device seen at one time: by an agent on its own host, or in a scan.
type Sighting struct {
	Hostname  string
	MachineID string
	OS        string
	Addresses []string
	MACs      []string
	Vendor    string
	Model     string
	SeenAt    time.Time
}

// Keys are the sighting's identities: machine:<id>, mac:<aa:bb:…>, ip:<address>, host:<name>.
func (sg Sighting) Keys() []string {
	var keys []string
	add := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if sg.MachineID != "" {
		add("machine:" + strings.ToLower(sg.MachineID))
	}
	for _, m := range sg.MACs {
		add("mac:" + NormalMAC(m))
	}
	for _, a := range sg.Addresses {
		add("ip:" + NormalAddress(a))
	}
	if sg.Hostname != "" {
		add("host:" + strings.ToLower(sg.Hostname))
	}
	return keys
}

// NormalMAC writes a MAC address as lower-case colon-separated hex; what is not one stays as
// given, lower-cased.
func NormalMAC(m string) string {
	if hw, err := net.ParseMAC(strings.TrimSpace(m)); err == nil {
		return hw.String()
	}
	return strings.ToLower(strings.TrimSpace(m))
}

// NormalAddress writes an IP address in its canonical form; what is not one stays as given.
func NormalAddress(a string) string {
	if ip, err := netip.ParseAddr(strings.TrimSpace(a)); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSpace(a))
}

// Discovery is a device seen on the plant's networks that is not in the inventory, and what a
// person decided of it.
type Discovery struct {
	ID          string     `json:"id"`
	State       string     `json:"state" enum:"discovery_state"`
	Source      string     `json:"source" doc:"agent (an agent reported its own host), import (a network scan or switch table) or site (a site worker's neighbour table)"`
	ReportedBy  string     `json:"reported_by" doc:"The asset whose agent reported it, or who imported the scan"`
	Hostname    string     `json:"hostname,omitempty"`
	MachineID   string     `json:"machine_id,omitempty"`
	OS          string     `json:"os,omitempty"`
	Addresses   []string   `json:"addresses" gorm:"serializer:json"`
	MACs        []string   `json:"macs" gorm:"column:macs;serializer:json"`
	Vendor      string     `json:"vendor,omitempty"`
	Model       string     `json:"model,omitempty"`
	Sightings   int        `json:"sightings" doc:"How many times it was seen"`
	FirstSeenAt time.Time  `json:"first_seen_at"`
	LastSeenAt  time.Time  `json:"last_seen_at"`
	AlarmID     string     `json:"alarm_id,omitempty"`
	AssetID     string     `json:"asset_id,omitempty" doc:"The asset it was claimed for"`
	Reason      string     `json:"reason,omitempty" doc:"Why it was rejected"`
	Realarm     bool       `json:"realarm" doc:"Rejected, but a later sighting raises a new alarm"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

// TableName maps Discovery to its table.
func (Discovery) TableName() string { return "discoveries" }

type discoveryKey struct {
	Ident       string
	DiscoveryID string
}

func (discoveryKey) TableName() string { return "discovery_keys" }

// AssetIdentity is a key an asset is known by beyond its name and endpoint address.
type AssetIdentity struct {
	Ident       string    `json:"ident"`
	AssetID     string    `json:"asset_id"`
	Source      string    `json:"source"`
	FirstSeenAt time.Time `json:"first_seen_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
}

// TableName maps AssetIdentity to its table.
func (AssetIdentity) TableName() string { return "asset_identities" }

// AgentHost is what an asset's agent last said of its host; Known is false when no asset knew
// the host (a discovery was raised).
type AgentHost struct {
	AssetID    string    `json:"asset_id"`
	Hostname   string    `json:"hostname"`
	MachineID  string    `json:"machine_id,omitempty"`
	OS         string    `json:"os,omitempty"`
	Addresses  []string  `json:"addresses" gorm:"serializer:json"`
	MACs       []string  `json:"macs" gorm:"column:macs;serializer:json"`
	Known      bool      `json:"known" doc:"An asset of the inventory knows the host; false: it is an unknown device"`
	ReportedAt time.Time `json:"reported_at"`
}

// TableName maps AgentHost to its table.
func (AgentHost) TableName() string { return "agent_hosts" }

// SightingsResult says what became of a batch of sightings.
type SightingsResult struct {
	// Known sightings matched an asset; New made discoveries; Seen were of a discovery already
	// made (its last seen moved); Alarms is how many alarms were raised.
	Known  int      `json:"known"`
	New    int      `json:"new"`
	Seen   int      `json:"seen"`
	Alarms int      `json:"alarms"`
	IDs    []string `json:"discovery_ids" doc:"The discoveries the sightings made or saw again, in the order of the sightings"`
}

// inventoryKeys maps the keys the inventory knows to their asset: learnt identities, asset
// names (host:) and endpoint addresses (ip: or host:).
func inventoryKeys(tx *gorm.DB, keys []string) (map[string]string, error) {
	out := map[string]string{}
	var ids []AssetIdentity
	if err := tx.Where("ident IN ?", keys).Find(&ids).Error; err != nil {
		return nil, err
	}
	for _, id := range ids {
		out[id.Ident] = id.AssetID
	}
	var names []string
	for _, k := range keys {
		if h, ok := strings.CutPrefix(k, "host:"); ok {
			names = append(names, h)
		}
	}
	if len(names) > 0 {
		var as []Asset
		if err := tx.Select("id", "name").Where("LOWER(name) IN ?", names).Find(&as).Error; err != nil {
			return nil, err
		}
		for _, a := range as {
			out["host:"+strings.ToLower(a.Name)] = a.ID
		}
	}
	var eps []Asset
	if err := tx.Select("id", "endpoint").Where("endpoint IS NOT NULL").Find(&eps).Error; err != nil {
		return nil, err
	}
	for _, a := range eps {
		if a.Endpoint == nil || a.Endpoint.Address == "" {
			continue
		}
		host := a.Endpoint.Address
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if _, err := netip.ParseAddr(host); err == nil {
			out["ip:"+NormalAddress(host)] = a.ID
		} else {
			out["host:"+strings.ToLower(host)] = a.ID
		}
	}
	return out, nil
}

// matchAsset returns the asset one of keys belongs to ("" when none), preferring prefer.
func matchAsset(known map[string]string, keys []string, prefer string) string {
	found := ""
	for _, k := range keys {
		if a, ok := known[k]; ok {
			if a == prefer {
				return a
			}
			if found == "" {
				found = a
			}
		}
	}
	return found
}

// RecordSightings matches each sighting against the inventory, in one transaction with ev: a
// sighting of a known asset refreshes its identities' last seen; one of a device already
// discovered refreshes the discovery (and, when it was rejected with realarm, opens it again with
// a new alarm); any other makes a discovery with an alarm. source is SourceAgent or SourceImport;
// reportedBy names the agent's asset or the importer.
func (s *Store) RecordSightings(ctx context.Context, source, reportedBy string, sightings []Sighting, ev Event) (SightingsResult, error) {
	var res SightingsResult
	ev.SubjectType = "discovery"
	if ev.SubjectID == "" {
		ev.SubjectID = NewID("sgt")
	}
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		res = SightingsResult{}
		for _, sg := range sightings {
			if _, err := s.sight(tx, &res, source, reportedBy, "", sg); err != nil {
				return err
			}
		}
		if details, ok := ev.Details.(map[string]any); ok {
			details["known"], details["new"], details["seen"], details["alarms"], details["discovery_ids"] = res.Known, res.New, res.Seen, res.Alarms, res.IDs
		}
		return nil
	})
	return res, err
}

// RecordAgentHost records what the agent of assetID says of its host, in one transaction with
// ev. A host the inventory knows is known: when it is the agent's own asset, the host's keys
// that no other asset holds become that asset's identities (so a later report matches by
// machine ID and MAC). A host no asset knows is a sighting like any other.
func (s *Store) RecordAgentHost(ctx context.Context, assetID string, sg Sighting, ev Event) (AgentHost, string, SightingsResult, error) {
	var res SightingsResult
	var host AgentHost
	var matched string
	ev.SubjectType, ev.SubjectID, ev.AssetID = "asset", assetID, assetID
	details := map[string]any{}
	ev.Details = details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		res = SightingsResult{}
		asset, err := s.sight(tx, &res, SourceAgent, assetID, assetID, sg)
		if err != nil {
			return err
		}
		matched = asset
		if asset == assetID {
			now := s.Now()
			for _, k := range sg.Keys() {
				if err := tx.Where("ident = ?", k).FirstOrCreate(&AssetIdentity{Ident: k, AssetID: assetID, Source: SourceAgent, FirstSeenAt: now, LastSeenAt: now}).Error; err != nil {
					return err
				}
			}
		}
		host = AgentHost{AssetID: assetID, Hostname: sg.Hostname, MachineID: sg.MachineID, OS: sg.OS, Addresses: nonNil(sg.Addresses), MACs: nonNil(sg.MACs),
			Known: asset != "", ReportedAt: sg.SeenAt.UTC()}
		if err := tx.Where("asset_id = ?", assetID).Delete(&AgentHost{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&host).Error; err != nil {
			return err
		}
		for k, v := range map[string]any{"hostname": sg.Hostname, "machine_id": sg.MachineID, "os": sg.OS, "addresses": sg.Addresses, "macs": sg.MACs,
			"known": asset != "", "matched_asset": asset, "discovery_ids": res.IDs, "alarms": res.Alarms} {
			details[k] = v
		}
		return nil
	})
	return host, matched, res, err
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// sight records one sighting in tx and returns the asset it matched ("" for a discovery).
func (s *Store) sight(tx *gorm.DB, res *SightingsResult, source, reportedBy, prefer string, sg Sighting) (string, error) {
	keys := sg.Keys()
	if len(keys) == 0 {
		return "", errors.New("a sighting names no address, MAC, hostname or machine ID")
	}
	seen := sg.SeenAt.UTC()
	if seen.IsZero() {
		seen = s.Now()
	}
	known, err := inventoryKeys(tx, keys)
	if err != nil {
		return "", err
	}
	if asset := matchAsset(known, keys, prefer); asset != "" {
		res.Known++
		return asset, tx.Model(&AssetIdentity{}).Where("ident IN ? AND asset_id = ? AND last_seen_at < ?", keys, asset, seen).Update("last_seen_at", seen).Error
	}
	var dks []discoveryKey
	if err := tx.Where("ident IN ?", keys).Order("ident").Find(&dks).Error; err != nil {
		return "", err
	}
	if len(dks) == 0 {
		d := Discovery{ID: NewID("dsc"), State: DiscoveryOpen, Source: source, ReportedBy: reportedBy, Hostname: sg.Hostname, MachineID: sg.MachineID,
			OS: sg.OS, Addresses: nonNil(sg.Addresses), MACs: nonNil(sg.MACs), Vendor: sg.Vendor, Model: sg.Model, Sightings: 1, FirstSeenAt: seen, LastSeenAt: seen}
		d.AlarmID = "alm_" + d.ID
		if err := tx.Create(&d).Error; err != nil {
			return "", err
		}
		for _, k := range keys {
			if err := tx.Create(&discoveryKey{Ident: k, DiscoveryID: d.ID}).Error; err != nil {
				return "", err
			}
		}
		if err := raiseUnknown(tx, &d, prefer, seen); err != nil {
			return "", err
		}
		res.New++
		res.Alarms++
		res.IDs = append(res.IDs, d.ID)
		return "", nil
	}
	var d Discovery
	if err := tx.Take(&d, "id = ?", dks[0].DiscoveryID).Error; err != nil {
		return "", err
	}
	for _, k := range keys {
		if !slices.ContainsFunc(dks, func(dk discoveryKey) bool { return dk.Ident == k }) {
			if err := tx.Where("ident = ?", k).FirstOrCreate(&discoveryKey{Ident: k, DiscoveryID: d.ID}).Error; err != nil {
				return "", err
			}
		}
	}
	up := map[string]any{"sightings": d.Sightings + 1, "addresses": jsonList(merge(d.Addresses, sg.Addresses)), "macs": jsonList(merge(d.MACs, sg.MACs))}
	if seen.After(d.LastSeenAt) {
		up["last_seen_at"] = seen
	}
	for col, v := range map[string]string{"hostname": sg.Hostname, "machine_id": sg.MachineID, "os": sg.OS, "vendor": sg.Vendor, "model": sg.Model} {
		if v != "" {
			up[col] = v
		}
	}
	if d.State == DiscoveryRejected && d.Realarm {
		d.AlarmID = NewID("alm")
		up["state"], up["realarm"], up["alarm_id"], up["reason"], up["decided_by"], up["decided_at"] = DiscoveryOpen, false, d.AlarmID, "", "", nil
		if err := raiseUnknown(tx, &d, prefer, seen); err != nil {
			return "", err
		}
		res.Alarms++
	}
	if err := tx.Model(&Discovery{}).Where("id = ?", d.ID).Updates(up).Error; err != nil {
		return "", err
	}
	res.Seen++
	res.IDs = append(res.IDs, d.ID)
	return "", nil
}

// jsonList is a list as the JSON text its column holds.
func jsonList(l []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", v)
	}
	b.WriteByte(']')
	return b.String()
}

func merge(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return nonNil(out)
}

func raiseUnknown(tx *gorm.DB, d *Discovery, agentAsset string, at time.Time) error {
	what := d.Hostname
	if what == "" && len(d.Addresses) > 0 {
		what = d.Addresses[0]
	}
	if what == "" && len(d.MACs) > 0 {
		what = d.MACs[0]
	}
	msg := fmt.Sprintf("unknown device %s seen on the network (%s); claim it for an asset or reject it: POST /api/v1/discoveries/%s/claim or /reject", what, d.Source, d.ID)
	if agentAsset != "" {
		msg = fmt.Sprintf("the agent of asset %s runs on host %s, which no asset of the inventory knows; claim it for an asset or reject it: POST /api/v1/discoveries/%s/claim or /reject", agentAsset, what, d.ID)
	}
	return tx.Create(&Alarm{ID: d.AlarmID, Kind: AlarmUnknownDevice, Severity: "warning", AssetID: agentAsset, Message: msg, RaisedAt: at}).Error
}

// DiscoveryFilter selects a page of discoveries, newest sighting first.
type DiscoveryFilter struct {
	State     string
	AfterSeen time.Time
	AfterID   string
	Limit     int
}

// DiscoveriesPage reads the discoveries f selects, last seen first.
func (s *Store) DiscoveriesPage(ctx context.Context, f DiscoveryFilter) ([]Discovery, error) {
	q := s.db.WithContext(ctx).Model(&Discovery{})
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	q = newestFirst(q, "last_seen_at", f.AfterSeen, f.AfterID, f.Limit)
	out := []Discovery{}
	return out, q.Find(&out).Error
}

// Discovery loads one discovery.
func (s *Store) Discovery(ctx context.Context, id string) (Discovery, error) {
	var d Discovery
	err := s.db.WithContext(ctx).Take(&d, "id = ?", id).Error
	return d, notFound(err, "discovery "+id)
}

// ErrDecided is returned for a decision on a discovery that was claimed or rejected before.
var ErrDecided = errors.New("already decided")

// ClaimDiscovery links an open discovery to an asset: newAsset, when given, is created first; else
// assetID must exist. The device's keys become the asset's identities (a key another asset
// holds stays with it), its alarm is cleared, all in one transaction with ev.
func (s *Store) ClaimDiscovery(ctx context.Context, id, assetID string, newAsset *Asset, actor string, ev Event) (Discovery, error) {
	var d Discovery
	now := s.Now()
	ev.SubjectType, ev.SubjectID = "discovery", id
	if newAsset != nil {
		if newAsset.ID == "" {
			newAsset.ID = NewID("ast")
		}
		assetID = newAsset.ID
	}
	ev.AssetID = assetID
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&d, "id = ?", id).Error; err != nil {
			return notFound(err, "discovery "+id)
		}
		if d.State != DiscoveryOpen {
			return fmt.Errorf("discovery %s was %s by %s: %w", id, d.State, d.DecidedBy, ErrDecided)
		}
		if newAsset != nil {
			newAsset.CreatedAt, newAsset.UpdatedAt = now, now
			if err := tx.Create(newAsset).Error; err != nil {
				return notFound(err, "asset "+newAsset.Name)
			}
			assetID = newAsset.ID
		} else {
			var a Asset
			if err := tx.Select("id").Take(&a, "id = ?", assetID).Error; err != nil {
				return notFound(err, "asset "+assetID)
			}
		}
		var dks []discoveryKey
		if err := tx.Where("discovery_id = ?", id).Find(&dks).Error; err != nil {
			return err
		}
		for _, k := range dks {
			if err := tx.Where("ident = ?", k.Ident).FirstOrCreate(&AssetIdentity{Ident: k.Ident, AssetID: assetID, Source: "claim", FirstSeenAt: d.FirstSeenAt, LastSeenAt: d.LastSeenAt}).Error; err != nil {
				return err
			}
		}
		d.State, d.AssetID, d.DecidedBy, d.DecidedAt = DiscoveryClaimed, assetID, actor, &now
		if err := tx.Model(&Discovery{}).Where("id = ?", id).Updates(map[string]any{"state": d.State, "asset_id": assetID, "decided_by": actor, "decided_at": now}).Error; err != nil {
			return err
		}
		if details, ok := ev.Details.(map[string]any); ok {
			details["asset_id"], details["alarm_id"] = assetID, d.AlarmID
		}
		return clearAlarm(tx, d.AlarmID, actor, now)
	})
	return d, err
}

// RejectDiscovery records that an open discovery is no asset of the plant, with reason, and
// clears its alarm; a later sighting of it raises no alarm unless realarm.
func (s *Store) RejectDiscovery(ctx context.Context, id, reason string, realarm bool, actor string, ev Event) (Discovery, error) {
	var d Discovery
	now := s.Now()
	ev.SubjectType, ev.SubjectID = "discovery", id
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&d, "id = ?", id).Error; err != nil {
			return notFound(err, "discovery "+id)
		}
		if d.State != DiscoveryOpen {
			return fmt.Errorf("discovery %s was %s by %s: %w", id, d.State, d.DecidedBy, ErrDecided)
		}
		d.State, d.Reason, d.Realarm, d.DecidedBy, d.DecidedAt = DiscoveryRejected, reason, realarm, actor, &now
		if err := tx.Model(&Discovery{}).Where("id = ?", id).Updates(map[string]any{"state": d.State, "reason": reason, "realarm": realarm, "decided_by": actor, "decided_at": now}).Error; err != nil {
			return err
		}
		if details, ok := ev.Details.(map[string]any); ok {
			details["alarm_id"] = d.AlarmID
		}
		return clearAlarm(tx, d.AlarmID, actor, now)
	})
	return d, err
}

func clearAlarm(tx *gorm.DB, alarmID, actor string, at time.Time) error {
	if alarmID == "" {
		return nil
	}
	return tx.Model(&Alarm{}).Where("id = ? AND cleared_at IS NULL", alarmID).Updates(map[string]any{"cleared_at": at, "cleared_by": actor}).Error
}

// AgentHosts maps each asset whose agent reported its host to what it said.
func (s *Store) AgentHosts(ctx context.Context) (map[string]AgentHost, error) {
	var hs []AgentHost
	if err := s.db.WithContext(ctx).Find(&hs).Error; err != nil {
		return nil, err
	}
	out := make(map[string]AgentHost, len(hs))
	for _, h := range hs {
		out[h.AssetID] = h
	}
	return out, nil
}

// AssetIdentities lists the identities of an asset, by key.
func (s *Store) AssetIdentities(ctx context.Context, assetID string) ([]AssetIdentity, error) {
	out := []AssetIdentity{}
	return out, s.db.WithContext(ctx).Where("asset_id = ?", assetID).Order("ident").Find(&out).Error
}

// LiveAgentCredentials lists every credential not revoked, with when its agent was last heard
// from, oldest first.
func (s *Store) LiveAgentCredentials(ctx context.Context) ([]AgentCredential, error) {
	out := []AgentCredential{}
	if err := s.db.WithContext(ctx).Where("revoked_at IS NULL").Order("created_at, id").Find(&out).Error; err != nil {
		return out, err
	}
	for i := range out {
		out[i] = s.withLiveness(out[i])
	}
	return out, nil
}
