package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Transfer directions: a bundle this instance wrote, or one it imported.
const (
	TransferOut = "out"
	TransferIn  = "in"
)

// Transfer is one transfer bundle written or imported (docs/transfer-format.md).
type Transfer struct {
	SiteID     string    `json:"site_id" gorm:"primaryKey"`
	Kind       string    `json:"kind" gorm:"primaryKey" doc:"plan (central to site), results or inventory (site to central)"`
	Direction  string    `json:"direction" gorm:"primaryKey" doc:"out: this instance wrote it; in: this instance imported it"`
	Sequence   uint64    `json:"sequence" gorm:"primaryKey"`
	Digest     string    `json:"digest" doc:"SHA-256 of the bundle's header (bundle.json): the bundle's identity"`
	FileSHA256 string    `json:"file_sha256" gorm:"column:file_sha256" doc:"SHA-256 of the whole file, as sha256sum prints it"`
	Size       int64     `json:"size" doc:"The file's size in bytes"`
	CampaignID string    `json:"campaign_id,omitempty"`
	Origin     string    `json:"origin" doc:"The signer's name"`
	CreatedAt  time.Time `json:"created_at" doc:"When the bundle was made"`
	ExpiresAt  time.Time `json:"expires_at" doc:"When it stops being accepted"`
	RecordedAt time.Time `json:"recorded_at" doc:"When this instance wrote or imported it"`
	RecordedBy string    `json:"recorded_by"`
	// Status and Detail are, for results, the campaign's status at the site when it wrote them.
	Status string `json:"status,omitempty" doc:"Results: the campaign's status at the site when the site wrote them"`
	Detail string `json:"detail,omitempty" doc:"Results: the site's words on that status"`
}

// LastTransfer is the newest transfer of a site, kind and direction; ok is false when there
// is none.
func (s *Store) LastTransfer(ctx context.Context, siteID, kind, direction string) (t Transfer, ok bool, err error) {
	err = s.db.WithContext(ctx).Where("site_id = ? AND kind = ? AND direction = ?", siteID, kind, direction).Order("sequence DESC").Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Transfer{}, false, nil
	}
	return t, err == nil, err
}

// TransferFilter selects transfers; empty fields select all.
type TransferFilter struct {
	SiteID, CampaignID, Kind, Direction string
	Limit                               int
}

// Transfers lists transfers, newest record first (at most f.Limit, default 100, at most 1000).
func (s *Store) Transfers(ctx context.Context, f TransferFilter) ([]Transfer, error) {
	q := s.db.WithContext(ctx).Model(&Transfer{})
	for col, v := range map[string]string{"site_id": f.SiteID, "campaign_id": f.CampaignID, "kind": f.Kind, "direction": f.Direction} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	n := f.Limit
	if n <= 0 {
		n = 100
	}
	n = min(n, 1000)
	out := []Transfer{}
	return out, q.Order("recorded_at DESC, sequence DESC").Limit(n).Find(&out).Error
}

// RecordTransfer runs fn and records t and ev in one transaction: a bundle counts as written
// or imported exactly when what it changed is stored. fn may be nil.
func (s *Store) RecordTransfer(ctx context.Context, t *Transfer, ev Event, fn func(tx *gorm.DB) error) error {
	t.RecordedAt = s.Now()
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return tx.Create(t).Error
	})
}

// NextTransferSequence is the sequence the next bundle of a site and kind this instance writes
// takes: one above the last it wrote.
func (s *Store) NextTransferSequence(ctx context.Context, siteID, kind string) (uint64, error) {
	t, ok, err := s.LastTransfer(ctx, siteID, kind, TransferOut)
	if err != nil || !ok {
		return 1, err
	}
	return t.Sequence + 1, nil
}

// ImportedCampaign is a campaign that came in a plan bundle, with the vendor, key and patch
// it needs.
type ImportedCampaign struct {
	Vendor    Vendor
	Key       VendorKey
	Patch     Patch
	Artifacts []PatchArtifact
	Campaign  Campaign
	Targets   []CampaignAsset
	Approvals []ApprovalRecord
}

// ImportCampaign stores an imported campaign within tx (RecordTransfer's fn): the vendor and
// its key when this instance does not have them, the patch (qualified at the central
// instance) unless it is here already with the same manifest, the campaign with its targets
// and claims, and the approvals it was approved with.
func ImportCampaign(tx *gorm.DB, now time.Time, in ImportedCampaign) error {
	var v Vendor
	switch err := tx.Take(&v, "id = ?", in.Vendor.ID).Error; {
	case errors.Is(err, gorm.ErrRecordNotFound):
		in.Vendor.CreatedAt = now
		if err := tx.Create(&in.Vendor).Error; err != nil {
			return err
		}
	case err != nil:
		return err
	}
	var n int64
	if err := tx.Model(&VendorKey{}).Where("vendor_id = ? AND fingerprint = ?", in.Key.VendorID, in.Key.Fingerprint).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		in.Key.CreatedAt = now
		if err := tx.Create(&in.Key).Error; err != nil {
			return err
		}
	}
	var p Patch
	switch err := tx.Take(&p, "id = ?", in.Patch.ID).Error; {
	case errors.Is(err, gorm.ErrRecordNotFound):
		in.Patch.UpdatedAt = now
		if err := tx.Create(&in.Patch).Error; err != nil {
			return err
		}
		if len(in.Artifacts) > 0 {
			if err := tx.Create(&in.Artifacts).Error; err != nil {
				return err
			}
		}
	case err != nil:
		return err
	case p.ManifestSHA256 != in.Patch.ManifestSHA256:
		return fmt.Errorf("patch %s is here already with another manifest (%s, not %s): %w", p.ID, p.ManifestSHA256, in.Patch.ManifestSHA256, ErrConflict)
	}
	c := in.Campaign
	if err := createCampaign(tx, now, &c, in.Targets); err != nil {
		return err
	}
	for _, ap := range in.Approvals {
		ap.CampaignID = c.ID
		if err := tx.Create(&ap).Error; err != nil {
			return err
		}
	}
	return nil
}

// ApplyAssetChanges applies changes to a campaign's targets within tx (RecordTransfer's fn).
func ApplyAssetChanges(tx *gorm.DB, now time.Time, campaignID string, changes map[string]AssetChange) error {
	for assetID, change := range changes {
		fields := change.columns()
		fields["updated_at"] = now
		res := tx.Model(&CampaignAsset{}).Where("campaign_id = ? AND asset_id = ?", campaignID, assetID).Updates(fields)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("campaign %s asset %s: %w", campaignID, assetID, ErrNotFound)
		}
	}
	return nil
}

// SetInstalledVersions sets assets' installed versions within tx (RecordTransfer's fn).
func SetInstalledVersions(tx *gorm.DB, now time.Time, versions map[string]string) error {
	for id, v := range versions {
		if err := tx.Model(&Asset{}).Where("id = ?", id).Updates(map[string]any{"installed_version": v, "updated_at": now}).Error; err != nil {
			return err
		}
	}
	return nil
}
