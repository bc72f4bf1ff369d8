package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/audit"
)

// A vendor's scorecard is computed from what was recorded — patches, the audit trail, the keys
// an admin trusted and revoked, the certificates on file — each time it is read; no figure of
// it is stored.

// VendorCertificate is a secure development certificate (IEC 62443-4-1 or another standard) of
// a vendor on file: the document is in the object store under ObjectKey.
type VendorCertificate struct {
	ID            string    `json:"id"`
	VendorID      string    `json:"vendor_id"`
	Standard      string    `json:"standard" doc:"The standard certified against, such as IEC 62443-4-1"`
	MaturityLevel int       `json:"maturity_level" doc:"The IEC 62443-4-1 maturity level certified (1 to 4); 0 when the certificate states none"`
	Issuer        string    `json:"issuer" doc:"Who issued the certificate"`
	ExpiresOn     string    `json:"expires_on" doc:"The last day the certificate is valid (YYYY-MM-DD)"`
	FileName      string    `json:"file_name,omitempty" doc:"The document's file name as uploaded"`
	ObjectKey     string    `json:"-"`
	Size          int64     `json:"size" doc:"The document's size in bytes"`
	SHA256        string    `json:"sha256" gorm:"column:sha256" doc:"The document's SHA-256 (hex)"`
	UploadedBy    string    `json:"uploaded_by"`
	UploadedAt    time.Time `json:"uploaded_at"`
}

// TableName maps VendorCertificate to its table.
func (VendorCertificate) TableName() string { return "vendor_certificates" }

// AddVendorCertificate records a certificate whose document is stored, with its audit event.
func (s *Store) AddVendorCertificate(ctx context.Context, c *VendorCertificate, ev Event) error {
	if c.ID == "" {
		c.ID = NewID("crt")
	}
	c.UploadedAt = s.Now()
	ev.SubjectType, ev.SubjectID = "vendor_certificate", c.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(c).Error }), "certificate "+c.ID)
}

// VendorCertificates lists a vendor's certificates, the most recently uploaded first.
func (s *Store) VendorCertificates(ctx context.Context, vendorID string) ([]VendorCertificate, error) {
	var out []VendorCertificate
	return out, s.db.WithContext(ctx).Where("vendor_id = ?", vendorID).Order("uploaded_at DESC, id").Limit(1000).Find(&out).Error
}

// VendorCertificate reads one of a vendor's certificates.
func (s *Store) VendorCertificate(ctx context.Context, vendorID, id string) (VendorCertificate, error) {
	var c VendorCertificate
	return c, notFound(s.db.WithContext(ctx).Take(&c, "id = ? AND vendor_id = ?", id, vendorID).Error, "certificate "+id)
}

// VendorRecord is what the store holds of a vendor's work, the raw material of its scorecard.
type VendorRecord struct {
	Patches []Patch
	Keys    []VendorKey
	// Qualified and Rejected are the patch.qualified and patch.rejected events of the vendor's
	// patches; Refused every patch.submit_refused event (the caller tells whose each is).
	Qualified, Rejected, Refused []audit.Event
	// Rollbacks are the asset.rolled_back and asset.rollback_failed events of campaigns of the
	// vendor's patches, with whether the asset was a test-bench target.
	Rollbacks []Rollback
	// VendorUsers are the usernames of the vendor's people (refusals recorded before refusals
	// named the vendor are told by their actor).
	VendorUsers  []string
	Certificates []VendorCertificate
}

// Rollback is one rollback event of a vendor's patch.
type Rollback struct {
	Event     audit.Event
	PatchID   string
	TestBench bool
}

// VendorRecords reads a vendor's patches, keys, certificates and the audit events of its work
// from..to (zero: unbounded).
func (s *Store) VendorRecords(ctx context.Context, vendorID string, from, to time.Time) (VendorRecord, error) {
	var rec VendorRecord
	db := s.db.WithContext(ctx)
	if err := db.Omit("report", "applicable").Where("vendor_id = ?", vendorID).Order("created_at, id").Find(&rec.Patches).Error; err != nil {
		return rec, err
	}
	var err error
	if rec.Keys, err = s.VendorKeys(ctx, vendorID); err != nil {
		return rec, err
	}
	if rec.Certificates, err = s.VendorCertificates(ctx, vendorID); err != nil {
		return rec, err
	}
	if err := db.Model(&User{}).Where("vendor_id = ?", vendorID).Pluck("username", &rec.VendorUsers).Error; err != nil {
		return rec, err
	}
	mine := map[string]bool{}
	for _, p := range rec.Patches {
		mine[p.ID] = true
	}
	each := func(action string, fn func(audit.Event)) error {
		return s.EachAuditEvent(ctx, AuditFilter{Action: action, From: from, To: to}, func(e audit.Event) error {
			fn(e)
			return nil
		})
	}
	for action, into := range map[string]*[]audit.Event{"patch.qualified": &rec.Qualified, "patch.rejected": &rec.Rejected} {
		if err := each(action, func(e audit.Event) {
			if mine[e.PatchID] {
				*into = append(*into, e)
			}
		}); err != nil {
			return rec, err
		}
	}
	if err := each("patch.submit_refused", func(e audit.Event) { rec.Refused = append(rec.Refused, e) }); err != nil {
		return rec, err
	}
	// The campaigns of the vendor's patches and their targets' bench flag.
	var targets []struct {
		CampaignID string
		AssetID    string
		PatchID    string
		TestBench  bool
	}
	if err := db.Table("campaign_assets").Select("campaign_assets.campaign_id, campaign_assets.asset_id, campaigns.patch_id, campaign_assets.test_bench").
		Joins("JOIN campaigns ON campaigns.id = campaign_assets.campaign_id").
		Joins("JOIN patches ON patches.id = campaigns.patch_id").
		Where("patches.vendor_id = ?", vendorID).Scan(&targets).Error; err != nil {
		return rec, err
	}
	type target struct {
		patchID string
		bench   bool
	}
	byTarget := map[[2]string]target{}
	for _, t := range targets {
		byTarget[[2]string{t.CampaignID, t.AssetID}] = target{t.PatchID, t.TestBench}
	}
	for _, action := range []string{"asset.rolled_back", "asset.rollback_failed"} {
		if err := each(action, func(e audit.Event) {
			if t, ok := byTarget[[2]string{e.CampaignID, e.AssetID}]; ok {
				rec.Rollbacks = append(rec.Rollbacks, Rollback{Event: e, PatchID: t.patchID, TestBench: t.bench})
			}
		}); err != nil {
			return rec, err
		}
	}
	return rec, nil
}
