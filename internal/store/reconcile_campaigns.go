package store

import (
	"context"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// recentlyEnded is how far back CampaignsToReconcile looks at ended campaigns: the retention
// of closed workflows in Temporal.
const recentlyEnded = 7 * 24 * time.Hour

// CampaignsToReconcile lists the campaigns past their draft that have not ended, and those that
// ended in the last week, oldest first, at most limit: the server compares each with its
// workflow at start (internal/engine).
func (s *Store) CampaignsToReconcile(ctx context.Context, limit int) ([]Campaign, error) {
	var out []Campaign
	ended := domain.TerminalStatuses()
	err := s.db.WithContext(ctx).
		Where("(status <> ? AND status NOT IN ?) OR (status IN ? AND updated_at > ?)", string(domain.CampaignDraft), ended, ended, s.Now().Add(-recentlyEnded)).
		Order("created_at, id").Limit(limit).Find(&out).Error
	return out, err
}
