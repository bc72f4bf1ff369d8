package store

import (
	"context"
	"time"
)

// CampaignFilter selects a page of campaigns. Every field left empty selects all.
type CampaignFilter struct {
	Status  string
	PatchID string
	// AfterCreated and AfterID are the creation time and id of the last campaign of the
	// previous page; zero for the first page.
	AfterCreated time.Time
	AfterID      string
	// Limit is how many campaigns to read at most.
	Limit int
}

// CampaignsPage reads the campaigns f selects, newest first (ties by id, descending), after f's
// last one: one keyset page, so a page costs the same however many campaigns there are. Their
// plans are left out (Plan is empty): a large campaign's is megabytes, and a list shows none.
func (s *Store) CampaignsPage(ctx context.Context, f CampaignFilter) ([]Campaign, error) {
	q := s.db.WithContext(ctx).Model(&Campaign{}).Omit("plan")
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.PatchID != "" {
		q = q.Where("patch_id = ?", f.PatchID)
	}
	q = newestFirst(q, "created_at", f.AfterCreated, f.AfterID, f.Limit)
	out := []Campaign{}
	return out, q.Find(&out).Error
}

// AlarmFilter selects a page of alarms. Every field left empty selects all.
type AlarmFilter struct {
	CampaignID string
	// AfterRaised and AfterID are the time and id of the last alarm of the previous page; zero
	// for the first page.
	AfterRaised time.Time
	AfterID     string
	// Limit is how many alarms to read at most.
	Limit int
}

// AlarmsPage reads the alarms f selects, newest first (ties by id, descending), after f's last
// one.
func (s *Store) AlarmsPage(ctx context.Context, f AlarmFilter) ([]Alarm, error) {
	q := s.db.WithContext(ctx).Model(&Alarm{})
	if f.CampaignID != "" {
		q = q.Where("campaign_id = ?", f.CampaignID)
	}
	q = newestFirst(q, "raised_at", f.AfterRaised, f.AfterID, f.Limit)
	out := []Alarm{}
	return out, q.Find(&out).Error
}
