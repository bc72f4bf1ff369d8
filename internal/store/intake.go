package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// RevokeVendorKey revokes a vendor key from now on: signatures made with it are refused.
func (s *Store) RevokeVendorKey(ctx context.Context, vendorID, keyID, reason string, ev Event) (VendorKey, error) {
	var k VendorKey
	ev.SubjectType, ev.SubjectID = "vendor_key", keyID
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&k, "id = ? AND vendor_id = ?", keyID, vendorID).Error; err != nil {
			return notFound(err, "vendor key "+keyID)
		}
		if k.RevokedAt != nil {
			return fmt.Errorf("vendor key %s was revoked at %s: %w", keyID, k.RevokedAt.Format("2006-01-02T15:04:05Z"), ErrConflict)
		}
		now := s.Now()
		k.RevokedAt, k.RevokeReason = &now, reason
		return tx.Model(&VendorKey{}).Where("id = ?", keyID).Updates(map[string]any{"revoked_at": now, "revoke_reason": reason}).Error
	})
	return k, err
}

// NewestPatchVersion returns the highest version of a product line's submitted patches that
// were not rejected, or "" when there is none.
func (s *Store) NewestPatchVersion(ctx context.Context, vendorID, productID string) (string, error) {
	var versions []string
	err := s.db.WithContext(ctx).Model(&Patch{}).Where("vendor_id = ? AND product_id = ? AND status <> ?", vendorID, productID, string(domain.PatchRejected)).
		Pluck("version", &versions).Error
	newest := ""
	for _, v := range versions {
		if newest == "" || domain.CompareVersions(v, newest) > 0 {
			newest = v
		}
	}
	return newest, err
}

// PatchByRef finds a vendor's patch by the vendor's patch id (newest version first).
func (s *Store) PatchByRef(ctx context.Context, vendorID, ref string) ([]Patch, error) {
	var out []Patch
	return out, s.db.WithContext(ctx).Where("vendor_id = ? AND patch_ref = ?", vendorID, ref).Order("created_at DESC").Find(&out).Error
}

// SetPatchReport stores the qualification report and marks the patches it supersedes.
func (s *Store) SetPatchReport(ctx context.Context, id, report string, supersedes []string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Patch{}).Where("id = ?", id).Update("report", report).Error; err != nil {
			return err
		}
		if len(supersedes) == 0 {
			return nil
		}
		return tx.Model(&Patch{}).Where("id IN ?", supersedes).Update("superseded_by", id).Error
	})
}

type idempotencyRow struct {
	Actor    string `gorm:"primaryKey"`
	Key      string `gorm:"primaryKey"`
	Status   int
	Response string
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// IdempotentResponse returns the answer stored for (actor, key), if any.
func (s *Store) IdempotentResponse(ctx context.Context, actor, key string) (int, string, bool, error) {
	var r idempotencyRow
	err := s.db.WithContext(ctx).Take(&r, "actor = ? AND key = ?", actor, key).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, "", false, nil
	}
	return r.Status, r.Response, err == nil, err
}

// SaveIdempotentResponse stores the answer to a request with an Idempotency-Key.
func (s *Store) SaveIdempotentResponse(ctx context.Context, actor, key string, status int, response string) error {
	return s.db.WithContext(ctx).Exec(`INSERT INTO idempotency_keys (actor, key, status, response, created_at) VALUES (?, ?, ?, ?, ?)`,
		actor, key, status, response, s.Now()).Error
}
