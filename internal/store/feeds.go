package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/domain"
)

// Feed is a CSAF provider whose advisories otpatch fetches (internal/feeds).
type Feed struct {
	ID string `json:"id"`
	// URL is the provider-metadata.json URL.
	URL string `json:"url"`
	// CAPEM is an extra CA (PEM) that may sign the provider's HTTPS certificate.
	CAPEM string `json:"-" gorm:"column:ca_pem"`
	// Fingerprints are the OpenPGP key fingerprints the person pinned (comma separated);
	// Trusted those whose keys the last sync verified.
	Fingerprints    string            `json:"-"`
	Trusted         string            `json:"-"`
	IntervalMinutes int               `json:"interval_minutes"`
	Publisher       string            `json:"publisher"`
	LastSyncAt      *time.Time        `json:"last_sync_at"`
	LastResult      domain.FeedResult `json:"last_result"`
	LastError       string            `json:"last_error"`
	Ingested        int               `json:"ingested"`
	Unchanged       int               `json:"unchanged"`
	Refused         int               `json:"refused"`
	CreatedBy       string            `json:"created_by"`
	CreatedAt       time.Time         `json:"created_at"`
}

// FeedDocument is what the last sync that fetched one document of a feed saw.
type FeedDocument struct {
	FeedID         string             `json:"-"`
	URL            string             `json:"url"`
	Changed        *time.Time         `json:"changed"`
	TrackingID     string             `json:"tracking_id"`
	Revision       string             `json:"revision"`
	CurrentRelease *time.Time         `json:"current_release"`
	SHA256         string             `json:"sha256" gorm:"column:sha256"`
	Outcome        domain.FeedOutcome `json:"outcome"`
	Reason         string             `json:"reason"`
	AdvisoryID     string             `json:"advisory_id"`
	SeenAt         time.Time          `json:"seen_at"`
}

// CreateFeed stores a new feed; a feed of the same provider-metadata URL is ErrConflict.
func (s *Store) CreateFeed(ctx context.Context, f *Feed, ev Event) error {
	if f.ID == "" {
		f.ID = NewID("feed")
	}
	f.CreatedAt = s.Now()
	ev.Action, ev.SubjectType, ev.SubjectID = "feed.created", "feed", f.ID
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(f).Error }), "a feed of "+f.URL)
}

// Feed loads one feed.
func (s *Store) Feed(ctx context.Context, id string) (Feed, error) {
	var f Feed
	return f, notFound(s.db.WithContext(ctx).Take(&f, "id = ?", id).Error, "feed "+id)
}

// FeedByURL loads the feed of a provider-metadata URL.
func (s *Store) FeedByURL(ctx context.Context, url string) (Feed, error) {
	var f Feed
	return f, notFound(s.db.WithContext(ctx).Take(&f, "url = ?", url).Error, "feed of "+url)
}

// FeedsPage reads a page of feeds, newest first, after the feed created at afterAt with id
// afterID (zero for the first page).
func (s *Store) FeedsPage(ctx context.Context, afterAt time.Time, afterID string, limit int) ([]Feed, error) {
	out := []Feed{}
	return out, newestFirst(s.db.WithContext(ctx).Model(&Feed{}), "created_at", afterAt, afterID, limit).Find(&out).Error
}

// DeleteFeed removes a feed and what its syncs saw; the advisories it ingested stay.
func (s *Store) DeleteFeed(ctx context.Context, id string, ev Event) error {
	ev.Action, ev.SubjectType, ev.SubjectID = "feed.deleted", "feed", id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&Feed{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return notFound(gorm.ErrRecordNotFound, "feed "+id)
		}
		return tx.Where("feed_id = ?", id).Delete(&FeedDocument{}).Error
	})
}

// FeedDocuments reads what the syncs of a feed saw, by document URL (at most limit).
func (s *Store) FeedDocuments(ctx context.Context, feedID string, limit int) (map[string]FeedDocument, error) {
	var rows []FeedDocument
	if err := s.db.WithContext(ctx).Where("feed_id = ?", feedID).Limit(limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]FeedDocument, len(rows))
	for _, r := range rows {
		out[r.URL] = r
	}
	return out, nil
}

// RecentFeedDocuments reads the documents of a feed most recently seen first (refusals
// before the rest when refused is set).
func (s *Store) RecentFeedDocuments(ctx context.Context, feedID string, outcome domain.FeedOutcome, limit int) ([]FeedDocument, error) {
	q := s.db.WithContext(ctx).Where("feed_id = ?", feedID)
	if outcome != "" {
		q = q.Where("outcome = ?", outcome)
	}
	out := []FeedDocument{}
	return out, q.Order("seen_at DESC, url").Limit(limit).Find(&out).Error
}

// FeedSync is what one sync of a feed saw.
type FeedSync struct {
	At        time.Time
	Publisher string
	// Trusted are the fingerprints of the keys the sync verified (kept when empty).
	Trusted string
	// Result is ok, refusals (some documents refused) or failed (Error says why).
	Result    domain.FeedResult
	Error     string
	Documents []FeedDocument
}

// RecordFeedSync stores what a sync saw: one row per document fetched (replacing the one of
// an earlier sync), the feed's last sync and its counts of documents by outcome, with the
// event "feed.synced".
func (s *Store) RecordFeedSync(ctx context.Context, feedID string, r FeedSync, ev Event) (Feed, error) {
	ev.Action, ev.SubjectType, ev.SubjectID = "feed.synced", "feed", feedID
	details := map[string]any{}
	if m, ok := ev.Details.(map[string]any); ok {
		maps.Copy(details, m)
	}
	details["result"], details["documents"] = r.Result, len(r.Documents)
	if r.Error != "" {
		details["error"] = r.Error
	}
	var refusals []map[string]string
	for _, d := range r.Documents {
		if d.Outcome == domain.FeedRefused && len(refusals) < 50 {
			refusals = append(refusals, map[string]string{"url": d.URL, "reason": d.Reason})
		}
	}
	if refusals != nil {
		details["refusals"] = refusals
	}
	ev.Details = details
	var f Feed
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&f, "id = ?", feedID).Error; err != nil {
			return notFound(err, "feed "+feedID)
		}
		for i := range r.Documents {
			d := r.Documents[i]
			d.FeedID, d.SeenAt = feedID, r.At.UTC()
			if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "feed_id"}, {Name: "url"}}, UpdateAll: true}).Create(&d).Error; err != nil {
				return err
			}
		}
		type count struct {
			Outcome string
			N       int
		}
		var counts []count
		if err := tx.Model(&FeedDocument{}).Select("outcome, COUNT(*) AS n").Where("feed_id = ?", feedID).Group("outcome").Scan(&counts).Error; err != nil {
			return err
		}
		f.Ingested, f.Unchanged, f.Refused = 0, 0, 0
		for _, c := range counts {
			switch domain.FeedOutcome(c.Outcome) {
			case domain.FeedIngested:
				f.Ingested = c.N
			case domain.FeedUnchanged:
				f.Unchanged = c.N
			case domain.FeedRefused:
				f.Refused = c.N
			}
		}
		at := r.At.UTC()
		f.LastSyncAt, f.LastResult, f.LastError = &at, r.Result, r.Error
		if r.Publisher != "" {
			f.Publisher = r.Publisher
		}
		if r.Trusted != "" {
			f.Trusted = r.Trusted
		}
		return tx.Model(&Feed{}).Where("id = ?", feedID).Updates(map[string]any{
			"last_sync_at": f.LastSyncAt, "last_result": f.LastResult, "last_error": f.LastError, "publisher": f.Publisher,
			"trusted": f.Trusted, "ingested": f.Ingested, "unchanged": f.Unchanged, "refused": f.Refused,
		}).Error
	})
	return f, err
}

// IngestAdvisory parses a CSAF 2.0 document and stores it as CreateAdvisory does: the one
// ingest path of an advisory posted to the API and of one a feed fetched. A document that is
// not CSAF 2.0 is a *domain.ValidationError naming every problem, nothing stored; an older
// revision than the one stored is ErrConflict. The event's details get the document's
// size, SHA-256, revision, CVEs and product count.
func (s *Store) IngestAdvisory(ctx context.Context, raw []byte, ev Event) (Advisory, *csaf.Advisory, AdvisoryOutcome, error) {
	details := map[string]any{}
	if m, ok := ev.Details.(map[string]any); ok {
		maps.Copy(details, m)
	}
	sum := sha256.Sum256(raw)
	details["bytes"], details["document_sha256"] = len(raw), hex.EncodeToString(sum[:])
	adv, err := csaf.ParseBytes(raw)
	if err != nil {
		return Advisory{}, nil, "", err
	}
	summary, err := json.Marshal(adv)
	if err != nil {
		return Advisory{}, nil, "", err
	}
	a := Advisory{TrackingID: adv.TrackingID, Title: adv.Title, Publisher: adv.Publisher, ReleasedAt: adv.InitialRelease,
		CurrentRelease: adv.CurrentRelease, Document: string(raw), Summary: string(summary)}
	details["revision"], details["cves"], details["products"] = adv.Revision, adv.CVEs(), len(adv.Products)
	ev.Details = details
	outcome, err := s.CreateAdvisory(ctx, &a, ev)
	return a, adv, outcome, err
}

// IsNotCSAF reports whether err is IngestAdvisory's refusal of a document that is not CSAF.
func IsNotCSAF(err error) bool {
	var v *domain.ValidationError
	return errors.As(err, &v)
}

// SetFeedInterval changes how often a feed is synced.
func (s *Store) SetFeedInterval(ctx context.Context, id string, minutes int, ev Event) (Feed, error) {
	ev.Action, ev.SubjectType, ev.SubjectID = "feed.changed", "feed", id
	var f Feed
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&f, "id = ?", id).Error; err != nil {
			return notFound(err, "feed "+id)
		}
		f.IntervalMinutes = minutes
		return tx.Model(&Feed{}).Where("id = ?", id).Update("interval_minutes", minutes).Error
	})
	return f, err
}
