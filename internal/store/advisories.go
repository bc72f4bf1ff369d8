package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Advisory is a stored CSAF 2.0 security advisory: the document exactly as received and its
// flattened model (internal/csaf) as JSON.
type Advisory struct {
	ID             string    `json:"id"`
	TrackingID     string    `json:"tracking_id"`
	Title          string    `json:"title"`
	Publisher      string    `json:"publisher"`
	ReleasedAt     time.Time `json:"released_at"`
	CurrentRelease time.Time `json:"current_release"`
	Document       string    `json:"-"`
	Summary        string    `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
}

// AdvisoryOutcome says what CreateAdvisory did.
type AdvisoryOutcome string

// Outcomes of CreateAdvisory.
const (
	AdvisoryCreated   AdvisoryOutcome = "created"
	AdvisoryUnchanged AdvisoryOutcome = "unchanged"
	AdvisoryReplaced  AdvisoryOutcome = "replaced"
)

// errAdvisoryMoved means the stored revision changed between reading and writing it.
var errAdvisoryMoved = errors.New("advisory changed concurrently")

// CreateAdvisory stores an advisory keyed by its tracking id, with its audit event in the same
// transaction:
//   - a tracking id not seen before is created (event action "advisory.ingested");
//   - the same tracking id with the same current release date is the advisory already stored:
//     a is set to the stored row, nothing is written and no event appended;
//   - a newer current release replaces the stored document and summary and keeps the id
//     (event "advisory.replaced", with the previous release date);
//   - an older one is refused with ErrConflict and the stored revision kept.
//
// The event's action, subject and release details are set here; its actor and any details
// given as map[string]any are the caller's.
func (s *Store) CreateAdvisory(ctx context.Context, a *Advisory, ev Event) (AdvisoryOutcome, error) {
	a.ReleasedAt, a.CurrentRelease = a.ReleasedAt.UTC(), a.CurrentRelease.UTC()
	details := map[string]any{}
	if m, ok := ev.Details.(map[string]any); ok {
		maps.Copy(details, m)
	}
	details["tracking_id"] = a.TrackingID
	details["current_release"] = a.CurrentRelease.Format(time.RFC3339Nano)
	ev.Details = details
	for range 3 {
		var old Advisory
		err := s.db.WithContext(ctx).Omit("document", "summary").Take(&old, "tracking_id = ?", a.TrackingID).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return "", err
		}
		if errors.Is(err, gorm.ErrRecordNotFound) {
			if a.ID == "" {
				a.ID = NewID("adv")
			}
			a.CreatedAt = s.Now()
			ev.Action, ev.SubjectType, ev.SubjectID = "advisory.ingested", "advisory", a.ID
			err := s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(a).Error })
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				continue // ingested concurrently: read it again
			}
			return AdvisoryCreated, err
		}
		switch c := a.CurrentRelease.Compare(old.CurrentRelease.UTC()); {
		case c == 0:
			stored, err := s.Advisory(ctx, old.ID)
			*a = stored
			return AdvisoryUnchanged, err
		case c < 0:
			return "", fmt.Errorf("advisory %s of %s is older than the stored revision of %s, which was kept: %w",
				a.TrackingID, a.CurrentRelease.Format(time.RFC3339), old.CurrentRelease.UTC().Format(time.RFC3339), ErrConflict)
		}
		a.ID, a.CreatedAt = old.ID, old.CreatedAt
		ev.Action, ev.SubjectType, ev.SubjectID = "advisory.replaced", "advisory", old.ID
		details["previous_release"] = old.CurrentRelease.UTC().Format(time.RFC3339Nano)
		err = s.Write(ctx, ev, func(tx *gorm.DB) error {
			var now Advisory
			q := tx.Select("id", "current_release")
			if s.dialect == "postgres" {
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			if err := q.Take(&now, "id = ?", old.ID).Error; err != nil {
				return err
			}
			if !now.CurrentRelease.Equal(old.CurrentRelease) {
				return errAdvisoryMoved
			}
			return tx.Model(&Advisory{}).Where("id = ?", old.ID).Updates(map[string]any{
				"title": a.Title, "publisher": a.Publisher, "released_at": a.ReleasedAt, "current_release": a.CurrentRelease,
				"document": a.Document, "summary": a.Summary,
			}).Error
		})
		if errors.Is(err, errAdvisoryMoved) {
			continue
		}
		return AdvisoryReplaced, err
	}
	return "", fmt.Errorf("advisory %s: changed by concurrent ingests; send it again", a.TrackingID)
}

// Advisories lists the stored advisories, most recently released first, without their
// documents.
func (s *Store) Advisories(ctx context.Context) ([]Advisory, error) {
	var out []Advisory
	return out, s.db.WithContext(ctx).Omit("document").Order("current_release DESC, tracking_id").Limit(5000).Find(&out).Error
}

// AdvisoryFilter selects a page of advisories. Every field left empty selects all.
type AdvisoryFilter struct {
	TrackingID string
	Publisher  string
	// AfterRelease and AfterID are the current release and id of the last advisory of the
	// previous page; zero for the first page.
	AfterRelease time.Time
	AfterID      string
	// Limit is how many advisories to read at most.
	Limit int
}

// AdvisoriesPage reads the advisories f selects without their documents, most recently
// released first (ties by id, descending), after f's last one: one keyset page, so a page costs
// the same however many advisories there are.
func (s *Store) AdvisoriesPage(ctx context.Context, f AdvisoryFilter) ([]Advisory, error) {
	q := s.db.WithContext(ctx).Model(&Advisory{}).Omit("document")
	if f.TrackingID != "" {
		q = q.Where("tracking_id = ?", f.TrackingID)
	}
	if f.Publisher != "" {
		q = q.Where("publisher = ?", f.Publisher)
	}
	q = newestFirst(q, "current_release", f.AfterRelease, f.AfterID, f.Limit)
	out := []Advisory{}
	return out, q.Find(&out).Error
}

// Advisory loads one advisory with its document.
func (s *Store) Advisory(ctx context.Context, id string) (Advisory, error) {
	var a Advisory
	return a, notFound(s.db.WithContext(ctx).Take(&a, "id = ?", id).Error, "advisory "+id)
}
