package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
)

// Vendor is a product supplier.
type Vendor struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

// VendorKey is a vendor's trusted ed25519 signing key.
type VendorKey struct {
	ID           string     `json:"id"`
	VendorID     string     `json:"vendor_id"`
	PublicKey    string     `json:"public_key"`
	Fingerprint  string     `json:"fingerprint"`
	NotBefore    time.Time  `json:"not_before"`
	NotAfter     time.Time  `json:"not_after"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// Token is a bearer token; only its SHA-256 is kept, and never shown. A personal token
// belongs to a user (UserID) and acts in one role he holds; Name is its label.
type Token struct {
	ID     string  `json:"id"`
	UserID *string `json:"user_id,omitempty"`
	// ParentTokenID is the token this one was minted with; revoking that revokes this.
	ParentTokenID *string   `json:"parent_token_id,omitempty"`
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	VendorID      *string   `json:"vendor_id,omitempty"`
	TokenHash     string    `json:"-"`
	CreatedAt     time.Time `json:"created_at"`
	// ExpiresAt is when the token stops working; nil for agent credentials and tokens made
	// before tokens expired.
	ExpiresAt *time.Time `json:"expires_at"`
	// LastUsedAt is when the token last authenticated a request (to the minute).
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Site is a plant. DeviceWork says where its assets' device work runs; with a site worker,
// UnreachableAfter (seconds) is how long that work waits for a worker of the site before the
// asset ends site_unreachable.
type Site struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	DeviceWork       domain.DeviceWork `json:"device_work" gorm:"default:central" doc:"Where the device work (backup, deploy, verify, restore) of the site's assets runs: central (the central workers reach the devices), site_worker (a worker at the site polls the site's own task queue and alone reaches them) or air_gapped (the site's own otpatch instance runs its campaigns, carried there and back as signed transfer bundles)"`
	UnreachableAfter int               `json:"unreachable_after_seconds" gorm:"column:unreachable_after_seconds;default:3600" doc:"With device_work site_worker: how many seconds device work waits for a worker of the site to take it before the asset ends site_unreachable, nothing deployed (60 to 2592000, 30 days)"`
	TransferKey      string            `json:"transfer_key,omitempty" doc:"With device_work air_gapped: the site instance's transfer public key (base64 of the 32 raw ed25519 bytes), pinned: results and inventory bundles are imported only when it signed them"`
	CreatedAt        time.Time         `json:"created_at"`
}

// Zone is an IEC 62443 zone with its target security level and maintenance window.
type Zone struct {
	ID         string        `json:"id"`
	SiteID     string        `json:"site_id"`
	Name       string        `json:"name"`
	SLT        int           `json:"sl_t" gorm:"column:sl_t"`
	TestBench  bool          `json:"test_bench"`
	WindowSpec string        `json:"-"`
	Window     domain.Window `json:"window" gorm:"-"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// Product is a vendor's product line.
type Product struct {
	ID       string `json:"id"`
	VendorID string `json:"vendor_id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
}

// Asset is one device of the inventory.
type Asset struct {
	ID               string `json:"id"`
	ZoneID           string `json:"zone_id"`
	ProductID        string `json:"product_id"`
	Name             string `json:"name"`
	InstalledVersion string `json:"installed_version"`
	Criticality      int    `json:"criticality"`
	SafetyCritical   bool   `json:"safety_critical"`
	RedundancyGroup  string `json:"redundancy_group,omitempty"`
	Adapter          string `json:"adapter"`
	// Endpoint is how the ssh and agent adapters reach the device; nil for the simulator.
	Endpoint  *adapters.Endpoint `json:"endpoint,omitempty" gorm:"serializer:json"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

// Patch is a vendor's submitted patch.
type Patch struct {
	ID             string    `json:"id"`
	VendorID       string    `json:"vendor_id"`
	ProductID      string    `json:"product_id"`
	PatchRef       string    `json:"patch_ref"`
	Version        string    `json:"version"`
	Title          string    `json:"title"`
	Status         string    `json:"status" enum:"patch_status"`
	Manifest       string    `json:"-"`
	ManifestSHA256 string    `json:"manifest_sha256" gorm:"column:manifest_sha256"`
	Signature      string    `json:"signature"`
	KeyFingerprint string    `json:"key_fingerprint"`
	Reasons        string    `json:"-"`
	Applicable     string    `json:"-"`
	SubmittedBy    string    `json:"submitted_by"`
	Report         string    `json:"-"`
	SupersededBy   string    `json:"superseded_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// PatchArtifact is one stored artifact of a patch.
type PatchArtifact struct {
	PatchID   string `json:"-" gorm:"primaryKey"`
	Name      string `json:"name"`
	ObjectKey string `json:"object_key"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256" gorm:"column:sha256"`
	MediaType string `json:"media_type,omitempty"`
}

// Campaign is the decision to apply one patch to a set of assets.
type Campaign struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PatchID    string `json:"patch_id"`
	Status     string `json:"status" enum:"campaign_status"`
	Detail     string `json:"detail,omitempty"`
	CreatedBy  string `json:"created_by"`
	Plan       string `json:"-"`
	PlanDigest string `json:"plan_digest"`
	WorkflowID string `json:"workflow_id"`
	// ImportedFrom names, on an air-gapped site's own instance, the plan bundle the campaign
	// came from; empty for campaigns planned here.
	ImportedFrom    string     `json:"imported_from,omitempty" doc:"On an air-gapped site's instance: the plan bundle the campaign came from (origin, sequence and digest); empty for campaigns planned here"`
	NextWindowStart *time.Time `json:"next_window_start,omitempty"`
	NextWindowEnd   *time.Time `json:"next_window_end,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// CampaignAsset is one asset's progress within a campaign.
type CampaignAsset struct {
	CampaignID   string    `json:"-" gorm:"primaryKey"`
	AssetID      string    `json:"asset_id" gorm:"primaryKey"`
	TestBench    bool      `json:"test_bench"`
	Wave         int       `json:"wave"`
	State        string    `json:"state" enum:"asset_state"`
	FromVersion  string    `json:"from_version,omitempty"`
	ToVersion    string    `json:"to_version,omitempty"`
	BackupKey    string    `json:"backup_key,omitempty"`
	BackupSHA256 string    `json:"backup_sha256,omitempty" gorm:"column:backup_sha256"`
	BackupSize   int64     `json:"backup_size,omitempty"`
	Error        string    `json:"error,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ApprovalRecord is one approval or rejection.
type ApprovalRecord struct {
	ID         string    `json:"id"`
	CampaignID string    `json:"campaign_id"`
	Actor      string    `json:"actor"`
	Role       string    `json:"role"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason,omitempty"`
	PlanDigest string    `json:"plan_digest"`
	At         time.Time `json:"at"`
}

// TableName maps ApprovalRecord to its table.
func (ApprovalRecord) TableName() string { return "approvals" }

// HashToken is how a bearer token is kept.
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// CreateVendor adds a vendor.
func (s *Store) CreateVendor(ctx context.Context, v *Vendor, ev Event) error {
	v.CreatedAt = s.Now()
	if v.ID == "" {
		v.ID = NewID("vnd")
	}
	ev.SubjectType, ev.SubjectID = "vendor", v.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(v).Error }), "vendor "+v.Name)
}

// Vendors lists vendors.
func (s *Store) Vendors(ctx context.Context) ([]Vendor, error) {
	var out []Vendor
	return out, s.db.WithContext(ctx).Order("name").Find(&out).Error
}

// Vendor loads one vendor by id.
func (s *Store) Vendor(ctx context.Context, id string) (Vendor, error) {
	var v Vendor
	return v, notFound(s.db.WithContext(ctx).Take(&v, "id = ?", id).Error, "vendor "+id)
}

// VendorByName loads one vendor by name.
func (s *Store) VendorByName(ctx context.Context, name string) (Vendor, error) {
	var v Vendor
	return v, notFound(s.db.WithContext(ctx).Take(&v, "name = ?", name).Error, "vendor "+name)
}

// AddVendorKey trusts a vendor key.
func (s *Store) AddVendorKey(ctx context.Context, k *VendorKey, ev Event) error {
	k.CreatedAt = s.Now()
	if k.ID == "" {
		k.ID = NewID("key")
	}
	ev.SubjectType, ev.SubjectID = "vendor_key", k.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(k).Error }), "vendor key "+k.Fingerprint)
}

// VendorKeys lists a vendor's keys.
func (s *Store) VendorKeys(ctx context.Context, vendorID string) ([]VendorKey, error) {
	var out []VendorKey
	return out, s.db.WithContext(ctx).Where("vendor_id = ?", vendorID).Order("created_at").Find(&out).Error
}

// CreateToken stores a new personal token of spec.UserID and returns the row. The user must
// hold the token's role (else ErrNotFound); a name taken by another of his active tokens is
// ErrConflict.
func (s *Store) CreateToken(ctx context.Context, spec TokenSpec, ev Event) (Token, error) {
	t := spec.row(s.Now())
	ev.SubjectType, ev.SubjectID = "token", t.ID
	return t, notFound(s.Write(ctx, ev, func(tx *gorm.DB) error {
		u, err := actingUser(tx, spec.UserID, spec.Role)
		if err != nil {
			return err
		}
		t.VendorID = u.VendorID
		return s.insertToken(tx, t)
	}), "token "+t.Name)
}

// Authenticate resolves a bearer token to its actor; an unknown, revoked or expired token is
// ErrNotFound.
func (s *Store) Authenticate(ctx context.Context, secret string) (domain.Actor, error) {
	_, a, err := s.AuthenticateToken(ctx, secret)
	return a, err
}

// AuthenticateToken is Authenticate that also returns the token. A personal token acts as
// its user in its role: a disabled user, or a role no longer held, is ErrNotFound. While
// notifications are relayed, an agent's token that authenticated before does so from memory
// until an agent credential is revoked (agent_tokens.go); every other token is read.
func (s *Store) AuthenticateToken(ctx context.Context, secret string) (Token, domain.Actor, error) {
	hash := HashToken(secret)
	t, look, ok := s.agentToken(hash)
	if ok {
		return t, actorOfToken(t), nil
	}
	db := s.db.WithContext(ctx)
	// One statement reads the token with its holder and whether the holder still holds the
	// token's role, where three round trips read them one after the other.
	var row struct {
		Token        `gorm:"embedded"`
		HolderName   *string
		HolderVendor *string
		HoldsRole    bool
	}
	err := db.Table("tokens").
		Select(`tokens.*, users.username AS holder_name, users.vendor_id AS holder_vendor,
			EXISTS (SELECT 1 FROM role_grants g WHERE g.user_id = tokens.user_id AND g.role = tokens.role
				AND g.confirmed_at IS NOT NULL AND g.ended_at IS NULL) AS holds_role`).
		Joins("LEFT JOIN users ON users.id = tokens.user_id AND users.disabled_at IS NULL").
		Where("tokens.token_hash = ? AND tokens.revoked_at IS NULL", hash).
		Take(&row).Error
	if err != nil {
		return Token{}, domain.Actor{}, notFound(err, "token")
	}
	t, err = s.noteUse(db, row.Token)
	if err != nil {
		return Token{}, domain.Actor{}, err
	}
	if t.UserID == nil {
		s.keepAgentToken(hash, t, look)
		return t, actorOfToken(t), nil // an agent credential
	}
	if row.HolderName == nil {
		return Token{}, domain.Actor{}, fmt.Errorf("user: %w", ErrNotFound) // disabled or gone
	}
	if !row.HoldsRole {
		return Token{}, domain.Actor{}, fmt.Errorf("%s does not hold the %s role: %w", *row.HolderName, t.Role, ErrNotFound)
	}
	u := User{ID: *t.UserID, Username: *row.HolderName, VendorID: row.HolderVendor}
	return t, u.Actor(domain.Role(t.Role)), nil
}

// CreateSite adds a site.
func (s *Store) CreateSite(ctx context.Context, site *Site, ev Event) error {
	site.CreatedAt = s.Now()
	if site.ID == "" {
		site.ID = NewID("site")
	}
	ev.SubjectType, ev.SubjectID = "site", site.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(site).Error }), "site "+site.Name)
}

// Sites lists sites.
func (s *Store) Sites(ctx context.Context) ([]Site, error) {
	var out []Site
	return out, s.db.WithContext(ctx).Order("name").Find(&out).Error
}

// CreateZone adds a zone with its window.
func (s *Store) CreateZone(ctx context.Context, z *Zone, ev Event) error {
	b, err := json.Marshal(z.Window)
	if err != nil {
		return err
	}
	z.WindowSpec = string(b)
	z.CreatedAt, z.UpdatedAt = s.Now(), s.Now()
	if z.ID == "" {
		z.ID = NewID("zone")
	}
	ev.SubjectType, ev.SubjectID = "zone", z.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(z).Error }), "zone "+z.Name)
}

// SetZoneWindow replaces a zone's maintenance window.
func (s *Store) SetZoneWindow(ctx context.Context, zoneID string, w domain.Window, ev Event) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	ev.SubjectType, ev.SubjectID = "zone", zoneID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Model(&Zone{}).Where("id = ?", zoneID).Updates(map[string]any{"window_spec": string(b), "updated_at": s.Now()})
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("zone %s: %w", zoneID, ErrNotFound)
		}
		return res.Error
	})
}

func decodeZones(zs []Zone) ([]Zone, error) {
	for i := range zs {
		if err := json.Unmarshal([]byte(zs[i].WindowSpec), &zs[i].Window); err != nil {
			return nil, fmt.Errorf("zone %s window: %w", zs[i].ID, err)
		}
	}
	return zs, nil
}

// Zones lists zones.
func (s *Store) Zones(ctx context.Context) ([]Zone, error) {
	var out []Zone
	if err := s.db.WithContext(ctx).Order("site_id, name").Find(&out).Error; err != nil {
		return nil, err
	}
	return decodeZones(out)
}

// Zone loads one zone.
func (s *Store) Zone(ctx context.Context, id string) (Zone, error) {
	var z Zone
	if err := s.db.WithContext(ctx).Take(&z, "id = ?", id).Error; err != nil {
		return z, notFound(err, "zone "+id)
	}
	zs, err := decodeZones([]Zone{z})
	if err != nil {
		return z, err
	}
	return zs[0], nil
}

// CreateProduct adds a product to the catalogue.
func (s *Store) CreateProduct(ctx context.Context, p *Product, ev Event) error {
	if p.ID == "" {
		p.ID = NewID("prd")
	}
	ev.SubjectType, ev.SubjectID = "product", p.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(p).Error }), "product "+p.Name)
}

// Products lists the catalogue, optionally for one vendor.
func (s *Store) Products(ctx context.Context, vendorID string) ([]Product, error) {
	var out []Product
	q := s.db.WithContext(ctx).Order("name")
	if vendorID != "" {
		q = q.Where("vendor_id = ?", vendorID)
	}
	return out, q.Find(&out).Error
}

// Product loads one product by id.
func (s *Store) Product(ctx context.Context, id string) (Product, error) {
	var p Product
	return p, notFound(s.db.WithContext(ctx).Take(&p, "id = ?", id).Error, "product "+id)
}

// ProductByName finds a vendor's product.
func (s *Store) ProductByName(ctx context.Context, vendorID, name string) (Product, error) {
	var p Product
	return p, notFound(s.db.WithContext(ctx).Take(&p, "vendor_id = ? AND name = ?", vendorID, name).Error, "product "+name)
}

// CreateAsset adds an asset.
func (s *Store) CreateAsset(ctx context.Context, a *Asset, ev Event) error {
	a.CreatedAt, a.UpdatedAt = s.Now(), s.Now()
	if a.ID == "" {
		a.ID = NewID("ast")
	}
	ev.SubjectType, ev.SubjectID, ev.AssetID = "asset", a.ID, a.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(a).Error }), "asset "+a.Name)
}

// AssetFilter selects assets; empty fields select any.
type AssetFilter struct {
	ZoneID    string
	SiteID    string
	ProductID string
	Adapter   string
	IDs       []string
}

// Assets lists every asset of the filter, by name (AssetPage reads one page).
func (s *Store) Assets(ctx context.Context, f AssetFilter) ([]Asset, error) {
	var out []Asset
	return out, f.where(s.db.WithContext(ctx)).Order("name").Find(&out).Error
}

// Asset loads one asset.
func (s *Store) Asset(ctx context.Context, id string) (Asset, error) {
	var a Asset
	return a, notFound(s.db.WithContext(ctx).Take(&a, "id = ?", id).Error, "asset "+id)
}

// SetInstalledVersion records the version an asset reports after a change.
func (s *Store) SetInstalledVersion(ctx context.Context, assetID, version string, ev Event) error {
	ev.SubjectType, ev.SubjectID, ev.AssetID = "asset", assetID, assetID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		return affected(tx.Model(&Asset{}).Where("id = ?", assetID).Updates(map[string]any{"installed_version": version, "updated_at": s.Now()}), "asset "+assetID)
	})
}

// CreatePatch stores a submitted patch and its artifacts.
func (s *Store) CreatePatch(ctx context.Context, p *Patch, arts []PatchArtifact, ev Event) error {
	p.CreatedAt, p.UpdatedAt = s.Now(), s.Now()
	ev.SubjectType, ev.SubjectID, ev.PatchID = "patch", p.ID, p.ID
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Create(p).Error; err != nil {
			return err
		}
		for i := range arts {
			arts[i].PatchID = p.ID
		}
		if len(arts) == 0 {
			return nil
		}
		return tx.Create(&arts).Error
	})
	return notFound(err, fmt.Sprintf("patch %s %s", p.PatchRef, p.Version))
}

// PatchExists reports whether a vendor already submitted this patch version.
func (s *Store) PatchExists(ctx context.Context, vendorID, ref, version string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Patch{}).Where("vendor_id = ? AND patch_ref = ? AND version = ?", vendorID, ref, version).Count(&n).Error
	return n > 0, err
}

// Patch loads one patch.
func (s *Store) Patch(ctx context.Context, id string) (Patch, error) {
	var p Patch
	return p, notFound(s.db.WithContext(ctx).Take(&p, "id = ?", id).Error, "patch "+id)
}

// Patches lists patches, only one vendor's when vendorID is set.
func (s *Store) Patches(ctx context.Context, vendorID string) ([]Patch, error) {
	var out []Patch
	q := s.db.WithContext(ctx).Order("created_at DESC")
	if vendorID != "" {
		q = q.Where("vendor_id = ?", vendorID)
	}
	return out, q.Find(&out).Error
}

// PatchArtifacts lists a patch's artifacts.
func (s *Store) PatchArtifacts(ctx context.Context, patchID string) ([]PatchArtifact, error) {
	var out []PatchArtifact
	return out, s.db.WithContext(ctx).Where("patch_id = ?", patchID).Order("name").Find(&out).Error
}

// SetPatchStatus records a qualification step or result.
func (s *Store) SetPatchStatus(ctx context.Context, id string, status domain.PatchStatus, reasons []string, applicable []string, ev Event) error {
	if reasons == nil {
		reasons = []string{}
	}
	if applicable == nil {
		applicable = []string{}
	}
	rb, _ := json.Marshal(reasons)
	ab, _ := json.Marshal(applicable)
	ev.SubjectType, ev.SubjectID, ev.PatchID = "patch", id, id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		return affected(tx.Model(&Patch{}).Where("id = ?", id).Updates(map[string]any{"status": string(status), "reasons": string(rb), "applicable": string(ab), "updated_at": s.Now()}), "patch "+id)
	})
}

// CreateCampaign stores a campaign with its targets.
func (s *Store) CreateCampaign(ctx context.Context, c *Campaign, targets []CampaignAsset, ev Event) error {
	ev.SubjectType, ev.SubjectID, ev.CampaignID, ev.PatchID, ev.WorkflowID = "campaign", c.ID, c.ID, c.PatchID, c.WorkflowID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return createCampaign(tx, s.Now(), c, targets) }), "campaign "+c.ID)
}

// createCampaign inserts a campaign, its targets and the claims of its production targets.
func createCampaign(tx *gorm.DB, now time.Time, c *Campaign, targets []CampaignAsset) error {
	c.CreatedAt, c.UpdatedAt = now, now
	if err := tx.Create(c).Error; err != nil {
		return err
	}
	var claims []AssetClaim
	for i := range targets {
		targets[i].CampaignID = c.ID
		targets[i].UpdatedAt = now
		if !targets[i].TestBench {
			claims = append(claims, AssetClaim{AssetID: targets[i].AssetID, CampaignID: c.ID, CreatedAt: now})
		}
	}
	if err := claimed(tx, claims); err != nil {
		return err
	}
	// In batches: PostgreSQL takes at most 65,535 parameters in one statement.
	if len(claims) > 0 {
		if err := tx.CreateInBatches(&claims, insertBatch).Error; err != nil {
			return err
		}
	}
	return tx.CreateInBatches(&targets, insertBatch).Error
}

// insertBatch is how many rows one INSERT of a large set carries, and idBatch how many ids
// one IN list holds: PostgreSQL takes at most 65,535 parameters in one statement.
const (
	insertBatch = 1000
	idBatch     = 10000
)

// AssetClaim records that a production asset is a target of an open campaign: the primary key
// on asset_id lets an asset be claimed by one open campaign only.
type AssetClaim struct {
	AssetID    string    `json:"asset_id" gorm:"primaryKey"`
	CampaignID string    `json:"campaign_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// ClaimConflict says which open campaign already targets which assets.
type ClaimConflict struct {
	// Holders maps an asset id to the open campaign that targets it.
	Holders map[string]string
}

func (e *ClaimConflict) Error() string {
	ids := make([]string, 0, len(e.Holders))
	for id := range e.Holders {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s is a target of campaign %s, which has not ended", id, e.Holders[id])
	}
	return strings.Join(parts, "; ") + "; an asset is a target of one open campaign at a time: wait until that campaign ends, or abort it"
}

func (e *ClaimConflict) Unwrap() error { return ErrConflict }

// claimed fails with a *ClaimConflict when an open campaign already claims one of claims' assets.
func claimed(tx *gorm.DB, claims []AssetClaim) error {
	ids := make([]string, len(claims))
	for i, c := range claims {
		ids[i] = c.AssetID
	}
	held, err := holders(tx, ids)
	if err != nil || len(held) == 0 {
		return err
	}
	return &ClaimConflict{Holders: held}
}

// holders maps each of assetIDs that an open campaign targets to that campaign.
func holders(db *gorm.DB, assetIDs []string) (map[string]string, error) {
	out := map[string]string{}
	if len(assetIDs) == 0 {
		return out, nil
	}
	for lo := 0; lo < len(assetIDs); lo += idBatch {
		var held []AssetClaim
		if err := db.Where("asset_id IN ?", assetIDs[lo:min(lo+idBatch, len(assetIDs))]).Find(&held).Error; err != nil {
			return nil, err
		}
		for _, h := range held {
			out[h.AssetID] = h.CampaignID
		}
	}
	return out, nil
}

// Claims lists which open campaign targets each of assetIDs (absent: none).
func (s *Store) Claims(ctx context.Context, assetIDs []string) (map[string]string, error) {
	return holders(s.db.WithContext(ctx), assetIDs)
}

// BenchBaseline is a verified backup of a test-bench asset taken while it ran Version.
type BenchBaseline struct {
	AssetID    string    `json:"asset_id" gorm:"primaryKey"`
	Version    string    `json:"version" gorm:"primaryKey"`
	ObjectKey  string    `json:"object_key"`
	SHA256     string    `json:"sha256" gorm:"column:sha256"`
	Size       int64     `json:"size"`
	CampaignID string    `json:"campaign_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// SaveBaseline records b as the baseline of its asset and version, replacing an older one.
func (s *Store) SaveBaseline(ctx context.Context, b BenchBaseline) error {
	b.CreatedAt = s.Now()
	return s.db.WithContext(ctx).Save(&b).Error
}

// Baselines lists the baselines of assetIDs by asset.
func (s *Store) Baselines(ctx context.Context, assetIDs []string) (map[string][]BenchBaseline, error) {
	out := map[string][]BenchBaseline{}
	if len(assetIDs) == 0 {
		return out, nil
	}
	var all []BenchBaseline
	if err := s.db.WithContext(ctx).Where("asset_id IN ?", assetIDs).Order("asset_id, version").Find(&all).Error; err != nil {
		return nil, err
	}
	for _, b := range all {
		out[b.AssetID] = append(out[b.AssetID], b)
	}
	return out, nil
}

// affected turns an update that matched no row into ErrNotFound, so no audit event is
// written for a change that did not happen.
func affected(res *gorm.DB, what string) error {
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return res.Error
}

// Campaign loads one campaign.
func (s *Store) Campaign(ctx context.Context, id string) (Campaign, error) {
	var c Campaign
	return c, notFound(s.db.WithContext(ctx).Take(&c, "id = ?", id).Error, "campaign "+id)
}

// CampaignAssets lists a campaign's targets.
func (s *Store) CampaignAssets(ctx context.Context, campaignID string) ([]CampaignAsset, error) {
	var out []CampaignAsset
	return out, s.db.WithContext(ctx).Where("campaign_id = ?", campaignID).Order("wave, asset_id").Find(&out).Error
}

// SetCampaignStatus moves a campaign to a new status.
func (s *Store) SetCampaignStatus(ctx context.Context, id string, status domain.CampaignStatus, detail string, ev Event) error {
	ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", id, id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := affected(tx.Model(&Campaign{}).Where("id = ?", id).Updates(map[string]any{"status": string(status), "detail": detail, "updated_at": s.Now()}), "campaign "+id); err != nil {
			return err
		}
		if status.Terminal() {
			// The campaign has ended: its targets may be planned again.
			return tx.Where("campaign_id = ?", id).Delete(&AssetClaim{}).Error
		}
		return nil
	})
}

// SetNextWindow records the window occurrence a campaign waits for (nil: none).
func (s *Store) SetNextWindow(ctx context.Context, id string, occ *domain.Occurrence) error {
	upd := map[string]any{"next_window_start": nil, "next_window_end": nil, "updated_at": s.Now()}
	if occ != nil {
		upd["next_window_start"], upd["next_window_end"] = occ.Start.UTC(), occ.End.UTC()
	}
	return s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ?", id).Updates(upd).Error
}

// AssetChange is one change of a target within a campaign; empty fields are left as they are.
type AssetChange struct {
	State domain.AssetState
	// Error, when not nil, replaces the target's error text ("" clears it).
	Error       *string
	FromVersion string
	ToVersion   string
	// Backup, when not nil, records the target's verified backup.
	Backup *BackupRef
}

// BackupRef is a verified backup in the object store.
type BackupRef struct {
	Key    string
	SHA256 string
	Size   int64
}

// Text is a pointer to s, for AssetChange.Error.
func Text(s string) *string { return &s }

func (c AssetChange) columns() map[string]any {
	out := map[string]any{}
	if c.State != "" {
		out["state"] = string(c.State)
	}
	if c.Error != nil {
		out["error"] = *c.Error
	}
	if c.FromVersion != "" {
		out["from_version"] = c.FromVersion
	}
	if c.ToVersion != "" {
		out["to_version"] = c.ToVersion
	}
	if c.Backup != nil {
		out["backup_key"], out["backup_sha256"], out["backup_size"] = c.Backup.Key, c.Backup.SHA256, c.Backup.Size
	}
	return out
}

// UpdateCampaignAsset applies one change of a target (state, versions, backup, error) with its
// audit event.
func (s *Store) UpdateCampaignAsset(ctx context.Context, campaignID, assetID string, change AssetChange, ev Event) error {
	fields := change.columns()
	fields["updated_at"] = s.Now()
	ev.SubjectType, ev.SubjectID, ev.CampaignID, ev.AssetID = "asset", assetID, campaignID, assetID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Model(&CampaignAsset{}).Where("campaign_id = ? AND asset_id = ?", campaignID, assetID).Updates(fields)
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("campaign %s asset %s: %w", campaignID, assetID, ErrNotFound)
		}
		return res.Error
	})
}

// AddApproval records an approval or rejection.
func (s *Store) AddApproval(ctx context.Context, a *ApprovalRecord, ev Event) error {
	if a.ID == "" {
		a.ID = NewID("apr")
	}
	a.At = a.At.UTC()
	ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", a.CampaignID, a.CampaignID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&ApprovalRecord{}).Where("id = ?", a.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUnchanged
		}
		return tx.Create(a).Error
	})
}

// Approvals lists a campaign's approvals and rejections.
func (s *Store) Approvals(ctx context.Context, campaignID string) ([]ApprovalRecord, error) {
	var out []ApprovalRecord
	return out, s.db.WithContext(ctx).Where("campaign_id = ?", campaignID).Order("at").Find(&out).Error
}

// TrustedKeys returns a vendor's keys in the form signature verification takes.
func (s *Store) TrustedKeys(ctx context.Context, vendorID string) ([]signing.TrustedKey, error) {
	keys, err := s.VendorKeys(ctx, vendorID)
	if err != nil {
		return nil, err
	}
	out := make([]signing.TrustedKey, len(keys))
	for i, k := range keys {
		out[i] = signing.TrustedKey{Fingerprint: k.Fingerprint, Public: k.PublicKey, NotBefore: k.NotBefore, NotAfter: k.NotAfter, RevokedAt: k.RevokedAt}
	}
	return out, nil
}

// ManifestOf parses a stored patch's manifest.
func ManifestOf(p Patch) (*domain.Manifest, error) {
	return domain.ParseManifest([]byte(p.Manifest))
}
