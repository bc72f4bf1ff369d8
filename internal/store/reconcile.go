package store

import (
	"context"

	"github.com/otpatch/otpatch/internal/domain"
)

// UnstartedWork lists the patches still submitted and the campaigns still drafts: rows whose
// workflow may never have started, when the process stopped between committing them and
// starting it (internal/engine reconciles them). Oldest first, at most limit of each.
func (s *Store) UnstartedWork(ctx context.Context, limit int) (patchIDs, campaignIDs []string, err error) {
	db := s.db.WithContext(ctx)
	if err := db.Model(&Patch{}).Where("status = ?", string(domain.PatchSubmitted)).Order("created_at, id").Limit(limit).Pluck("id", &patchIDs).Error; err != nil {
		return nil, nil, err
	}
	if err := db.Model(&Campaign{}).Where("status = ?", string(domain.CampaignDraft)).Order("created_at, id").Limit(limit).Pluck("id", &campaignIDs).Error; err != nil {
		return nil, nil, err
	}
	return patchIDs, campaignIDs, nil
}
