package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// PatchUpload is an admitted manifest whose artifacts the vendor uploads straight to the
// object store through presigned URLs. Its ID is the patch ID the patch will get.
type PatchUpload struct {
	ID        string    `json:"id"`
	VendorID  string    `json:"vendor_id"`
	Actor     string    `json:"actor"`
	Manifest  string    `json:"-"`
	Signature string    `json:"-"`
	State     string    `json:"state"` // open | checking | completed | refused | expired
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// Upload states.
const (
	UploadOpen      = "open"
	UploadChecking  = "checking"
	UploadCompleted = "completed"
	UploadRefused   = "refused"
	UploadExpired   = "expired"
)

// CreateUpload records a presigned upload.
func (s *Store) CreateUpload(ctx context.Context, u *PatchUpload, ev Event) error {
	u.CreatedAt, u.State = s.Now(), UploadOpen
	ev.SubjectType, ev.SubjectID, ev.PatchID = "patch_upload", u.ID, u.ID
	return s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(u).Error })
}

// Upload loads a presigned upload.
func (s *Store) Upload(ctx context.Context, id string) (PatchUpload, error) {
	var u PatchUpload
	return u, notFound(s.db.WithContext(ctx).Take(&u, "id = ?", id).Error, "upload "+id)
}

// SetUploadState moves an upload from state from to state to; it fails with ErrConflict when
// the upload is not in state from (a concurrent request moved it first).
func (s *Store) SetUploadState(ctx context.Context, id, from, to string, ev Event) error {
	ev.SubjectType, ev.SubjectID, ev.PatchID = "patch_upload", id, id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Model(&PatchUpload{}).Where("id = ? AND state = ?", id, from).Update("state", to)
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("upload %s is not %s: %w", id, from, ErrConflict)
		}
		return res.Error
	})
}

// ExpiredUploads lists open uploads whose URLs expired before now.
func (s *Store) ExpiredUploads(ctx context.Context, now time.Time) ([]PatchUpload, error) {
	var out []PatchUpload
	return out, s.db.WithContext(ctx).Where("state = ? AND expires_at < ?", UploadOpen, now.UTC()).Find(&out).Error
}
