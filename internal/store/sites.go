package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
)

// A site's device-work setting and the presence of its site workers. Presence is telemetry:
// a poll moves last_poll_at and writes no audit event; a worker's appearance
// (site.worker_seen) and its going away (site.worker_lost) are one event each.

// The bounds of a site's unreachable_after_seconds, and its default.
const (
	MinUnreachableAfter     = 60
	MaxUnreachableAfter     = 30 * 24 * 3600
	DefaultUnreachableAfter = 3600
)

// PollingWithin is how recent a worker's last poll must be for it to count as polling. A
// polling worker's long poll is renewed at least every minute or so; Temporal goes on listing
// a poller for minutes after it stopped, so its listing alone says nothing.
const PollingWithin = 2 * time.Minute

// Bounds on what is kept of site workers: lost workers are forgotten after siteWorkerKeep,
// and at most maxSiteWorkers are kept per site (the most recent polls).
const (
	siteWorkerKeep  = 7 * 24 * time.Hour
	maxSiteWorkers  = 100
	maxWorkerField  = 500
	maxIdentitySize = 1000
)

// SiteWorker is a poller of a site's task queue, by its Temporal identity. LostAt is when it
// was found to have stopped polling; nil while it polls.
type SiteWorker struct {
	SiteID      string     `json:"site_id" gorm:"primaryKey"`
	Identity    string     `json:"identity" gorm:"primaryKey"`
	Version     string     `json:"version"`
	Host        string     `json:"host"`
	FirstSeenAt time.Time  `json:"first_seen_at"`
	LastPollAt  time.Time  `json:"last_poll_at"`
	LostAt      *time.Time `json:"lost_at"`
}

// Polling reports whether the worker polled within PollingWithin of now.
func (w SiteWorker) Polling(now time.Time) bool {
	return w.LostAt == nil && now.Sub(w.LastPollAt) <= PollingWithin
}

// SiteWorkerSeen is one poller of a site's task queue as Temporal describes it.
type SiteWorkerSeen struct {
	Identity   string
	Version    string
	Host       string
	LastPollAt time.Time
}

// SiteChange changes a site's settings; a nil field stays as it is.
type SiteChange struct {
	DeviceWork       *domain.DeviceWork
	UnreachableAfter *int
	// TransferKey is the air-gapped site's transfer public key (base64 or PEM); "" unpins it.
	TransferKey *string
}

// Check adds what is wrong with the change to v, in the API's field names.
func (c SiteChange) Check(v *domain.ValidationError) {
	if c.DeviceWork != nil && !slices.Contains(domain.DeviceWorks(), *c.DeviceWork) {
		v.Add("device_work", "must be %s, %s or %s, got %q", domain.DeviceWorkCentral, domain.DeviceWorkSiteWorker, domain.DeviceWorkAirGapped, string(*c.DeviceWork))
	}
	if c.TransferKey != nil && *c.TransferKey != "" {
		if len(*c.TransferKey) > 1000 {
			v.Add("transfer_key", "is longer than 1000 characters; give the site's transfer public key as GET /api/v1/transfers/key on the site's instance shows it")
		} else if _, err := signing.DecodePublic(*c.TransferKey); err != nil {
			v.Add("transfer_key", "is not an ed25519 public key: give it as base64 of its 32 bytes or as a PEM PUBLIC KEY, as GET /api/v1/transfers/key on the site's instance shows it")
		}
	}
	if c.UnreachableAfter != nil && (*c.UnreachableAfter < MinUnreachableAfter || *c.UnreachableAfter > MaxUnreachableAfter) {
		v.Add("unreachable_after_seconds", "must be from %d (a minute) to %d (30 days) seconds, got %d", MinUnreachableAfter, MaxUnreachableAfter, *c.UnreachableAfter)
	}
}

// siteChanged is the details of a site.changed event: the fields changed, before and after.
type siteChanged struct {
	From map[string]any `json:"from"`
	To   map[string]any `json:"to"`
}

// UpdateSite applies a valid change to a site and answers the site as stored. The event,
// site.changed, carries the changed fields from and to; a change that changes nothing
// writes no event. An unknown site is ErrNotFound.
func (s *Store) UpdateSite(ctx context.Context, id string, c SiteChange, ev Event) (Site, error) {
	v := &domain.ValidationError{What: "site"}
	if c.Check(v); v.Err() != nil {
		return Site{}, v
	}
	var site Site
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		if err := tx.Take(&site, "id = ?", id).Error; err != nil {
			return Event{}, notFound(err, "site "+id)
		}
		d := siteChanged{From: map[string]any{}, To: map[string]any{}}
		if c.DeviceWork != nil && *c.DeviceWork != site.DeviceWork {
			d.From["device_work"], d.To["device_work"] = site.DeviceWork, *c.DeviceWork
			site.DeviceWork = *c.DeviceWork
		}
		if c.UnreachableAfter != nil && *c.UnreachableAfter != site.UnreachableAfter {
			d.From["unreachable_after_seconds"], d.To["unreachable_after_seconds"] = site.UnreachableAfter, *c.UnreachableAfter
			site.UnreachableAfter = *c.UnreachableAfter
		}
		if c.TransferKey != nil {
			key := ""
			if *c.TransferKey != "" {
				pub, _ := signing.DecodePublic(*c.TransferKey) // checked above
				key = signing.EncodePublic(pub)
			}
			if key != site.TransferKey {
				d.From["transfer_key"], d.To["transfer_key"] = site.TransferKey, key
				site.TransferKey = key
			}
		}
		if len(d.To) == 0 {
			return Event{}, ErrUnchanged
		}
		if err := tx.Model(&Site{}).Where("id = ?", id).Updates(d.To).Error; err != nil {
			return Event{}, err
		}
		ev.Action, ev.SubjectType, ev.SubjectID, ev.Details = "site.changed", "site", id, d
		return ev, nil
	})
	if err != nil {
		return Site{}, err
	}
	return site, nil
}

// SitesWithSiteWorkers lists the sites whose device work runs on a site worker, by name.
func (s *Store) SitesWithSiteWorkers(ctx context.Context) ([]Site, error) {
	var out []Site
	return out, s.db.WithContext(ctx).Where("device_work = ?", domain.DeviceWorkSiteWorker).Order("name").Find(&out).Error
}

// SiteWorkers lists the workers known to have polled a site's task queue, most recent poll
// first (at most a hundred).
func (s *Store) SiteWorkers(ctx context.Context, siteID string) ([]SiteWorker, error) {
	by, err := s.WorkersOfSites(ctx, siteID)
	return append([]SiteWorker{}, by[siteID]...), err
}

// WorkersOfSites lists the workers known to have polled each site's task queue, by site id,
// most recent poll first (at most a hundred a site), in one query.
func (s *Store) WorkersOfSites(ctx context.Context, siteIDs ...string) (map[string][]SiteWorker, error) {
	by := map[string][]SiteWorker{}
	if len(siteIDs) == 0 {
		return by, nil
	}
	var ws []SiteWorker
	if err := s.db.WithContext(ctx).Where("site_id IN ?", siteIDs).Order("site_id, last_poll_at DESC, identity").Find(&ws).Error; err != nil {
		return nil, err
	}
	for _, w := range ws {
		if len(by[w.SiteID]) < maxSiteWorkers {
			by[w.SiteID] = append(by[w.SiteID], w)
		}
	}
	return by, nil
}

// SiteWithWorkers is a site with the workers known to have polled its task queue.
type SiteWithWorkers struct {
	Site
	Workers []SiteWorker
}

// CampaignSiteWorkers lists the sites of a campaign's assets whose device work runs on a site
// worker, by name, each with its workers (WorkersOfSites).
func (s *Store) CampaignSiteWorkers(ctx context.Context, campaignID string) ([]SiteWithWorkers, error) {
	var sites []Site
	err := s.db.WithContext(ctx).Where(`device_work = ? AND id IN (
    SELECT z.site_id FROM campaign_assets ca JOIN assets a ON a.id = ca.asset_id JOIN zones z ON z.id = a.zone_id
    WHERE ca.campaign_id = ?)`, domain.DeviceWorkSiteWorker, campaignID).Order("name, id").Find(&sites).Error
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(sites))
	for i, site := range sites {
		ids[i] = site.ID
	}
	by, err := s.WorkersOfSites(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]SiteWithWorkers, len(sites))
	for i, site := range sites {
		out[i] = SiteWithWorkers{Site: site, Workers: by[site.ID]}
	}
	return out, nil
}

// SiteWorkerChanges are the appearances and disappearances RecordSiteWorkers wrote events for.
type SiteWorkerChanges struct {
	Seen, Lost []string // identities
}

// RecordSiteWorkers records the pollers of a site's task queue that Temporal lists now. A
// worker that polls and was not known, or was lost, appears (site.worker_seen); a known worker
// whose last poll is older than PollingWithin is lost (site.worker_lost), whether Temporal
// still lists it or not. Other polls only move last_poll_at. A poller listed already stale
// and never seen polling is recorded as lost without an event. Concurrent recorders (several
// central processes) write each event once. Lost workers older than a week are forgotten. On
// an error the changes answered are those written before it.
func (s *Store) RecordSiteWorkers(ctx context.Context, siteID string, seen []SiteWorkerSeen) (SiteWorkerChanges, error) {
	var ch SiteWorkerChanges
	db := s.db.WithContext(ctx)
	var known []SiteWorker
	if err := db.Where("site_id = ?", siteID).Find(&known).Error; err != nil {
		return ch, err
	}
	byID := map[string]SiteWorker{}
	for _, w := range known {
		byID[w.Identity] = w
	}
	now := s.Now()
	if len(seen) > maxSiteWorkers {
		seen = seen[:maxSiteWorkers]
	}
	listed := map[string]bool{}
	for _, p := range seen {
		p.Identity, p.Version, p.Host = clip(p.Identity, maxIdentitySize), clip(p.Version, maxWorkerField), clip(p.Host, maxWorkerField)
		if p.Identity == "" || listed[p.Identity] {
			continue
		}
		listed[p.Identity] = true
		p.LastPollAt = p.LastPollAt.UTC()
		if p.LastPollAt.After(now) {
			p.LastPollAt = now // another clock; a poll is never in the future
		}
		polling := now.Sub(p.LastPollAt) <= PollingWithin
		w, ok := byID[p.Identity]
		switch {
		case ok && w.LostAt == nil:
			// A known worker polls on: telemetry, no event.
			if p.LastPollAt.After(w.LastPollAt) {
				err := db.Model(&SiteWorker{}).Where("site_id = ? AND identity = ? AND last_poll_at < ?", siteID, p.Identity, p.LastPollAt).
					Updates(map[string]any{"last_poll_at": p.LastPollAt, "version": p.Version, "host": p.Host}).Error
				if err != nil {
					return ch, err
				}
				w.LastPollAt = p.LastPollAt
				byID[p.Identity] = w
			}
		case polling:
			wrote, err := s.workerSeen(ctx, siteID, p, ok, now)
			if err != nil {
				return ch, err
			}
			if wrote {
				ch.Seen = append(ch.Seen, p.Identity)
			}
			byID[p.Identity] = SiteWorker{SiteID: siteID, Identity: p.Identity, LastPollAt: p.LastPollAt}
		case !ok:
			// Listed, but its last poll is old: it went away before it was ever seen polling.
			row := SiteWorker{SiteID: siteID, Identity: p.Identity, Version: p.Version, Host: p.Host, FirstSeenAt: p.LastPollAt, LastPollAt: p.LastPollAt, LostAt: &now}
			if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
				return ch, err
			}
		case p.LastPollAt.After(w.LastPollAt):
			// A lost worker whose old poll Temporal still lists: only the time moves.
			if err := db.Model(&SiteWorker{}).Where("site_id = ? AND identity = ? AND last_poll_at < ?", siteID, p.Identity, p.LastPollAt).
				Update("last_poll_at", p.LastPollAt).Error; err != nil {
				return ch, err
			}
		}
	}
	for id, w := range byID {
		if w.LostAt != nil || now.Sub(w.LastPollAt) <= PollingWithin {
			continue
		}
		wrote, err := s.workerLost(ctx, siteID, w, now)
		if err != nil {
			return ch, err
		}
		if wrote {
			ch.Lost = append(ch.Lost, id)
		}
	}
	slices.Sort(ch.Seen)
	slices.Sort(ch.Lost)
	return ch, s.pruneSiteWorkers(ctx, siteID, now)
}

// workerSeen records a worker that polls and was unknown (known false) or lost, with its
// site.worker_seen event; false when another recorder did it first.
func (s *Store) workerSeen(ctx context.Context, siteID string, p SiteWorkerSeen, known bool, now time.Time) (bool, error) {
	ev := Event{Actor: "otpatch", Role: string(domain.RoleSystem), Action: "site.worker_seen", SubjectType: "site", SubjectID: siteID,
		Details: map[string]any{"identity": p.Identity, "version": p.Version, "host": p.Host, "task_queue": domain.SiteTaskQueue(siteID)}}
	return s.writeRow(ctx, ev, func(tx *gorm.DB) *gorm.DB {
		if known {
			return tx.Model(&SiteWorker{}).Where("site_id = ? AND identity = ? AND lost_at IS NOT NULL", siteID, p.Identity).
				Updates(map[string]any{"lost_at": nil, "last_poll_at": p.LastPollAt, "version": p.Version, "host": p.Host})
		}
		row := SiteWorker{SiteID: siteID, Identity: p.Identity, Version: p.Version, Host: p.Host, FirstSeenAt: now, LastPollAt: p.LastPollAt}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	})
}

// workerLost marks a worker lost with its site.worker_lost event; false when another recorder
// did it first or the worker polled meanwhile.
func (s *Store) workerLost(ctx context.Context, siteID string, w SiteWorker, now time.Time) (bool, error) {
	ev := Event{Actor: "otpatch", Role: string(domain.RoleSystem), Action: "site.worker_lost", SubjectType: "site", SubjectID: siteID,
		Details: map[string]any{"identity": w.Identity, "last_poll_at": w.LastPollAt.UTC().Format(time.RFC3339), "task_queue": domain.SiteTaskQueue(siteID)}}
	return s.writeRow(ctx, ev, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&SiteWorker{}).Where("site_id = ? AND identity = ? AND lost_at IS NULL AND last_poll_at < ?", siteID, w.Identity, now.Add(-PollingWithin)).
			Update("lost_at", now)
	})
}

// writeRow runs one statement and appends ev with it when it wrote a row; false, and no
// event, when it wrote none (another recorder was first).
func (s *Store) writeRow(ctx context.Context, ev Event, stmt func(tx *gorm.DB) *gorm.DB) (bool, error) {
	_, err := s.commit(ctx, func(tx *gorm.DB) (Event, error) {
		res := stmt(tx)
		switch {
		case res.Error != nil:
			return Event{}, res.Error
		case res.RowsAffected == 0:
			return Event{}, ErrUnchanged
		}
		return ev, nil
	})
	if errors.Is(err, ErrUnchanged) {
		return false, nil
	}
	return err == nil, err
}

// pruneSiteWorkers forgets a site's workers lost for more than a week, and its lost workers
// beyond the most recent hundred.
func (s *Store) pruneSiteWorkers(ctx context.Context, siteID string, now time.Time) error {
	db := s.db.WithContext(ctx)
	if err := db.Where("site_id = ? AND lost_at IS NOT NULL AND last_poll_at < ?", siteID, now.Add(-siteWorkerKeep)).Delete(&SiteWorker{}).Error; err != nil {
		return fmt.Errorf("forget the lost workers of site %s: %w", siteID, err)
	}
	var extra []string
	if err := db.Model(&SiteWorker{}).Where("site_id = ? AND lost_at IS NOT NULL", siteID).Order("last_poll_at DESC, identity").
		Offset(maxSiteWorkers).Limit(1000).Pluck("identity", &extra).Error; err != nil || len(extra) == 0 {
		return err
	}
	return db.Where("site_id = ? AND identity IN ?", siteID, extra).Delete(&SiteWorker{}).Error
}

// clip makes text from outside storable: valid UTF-8 without NUL (PostgreSQL's TEXT takes
// neither), cut to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
