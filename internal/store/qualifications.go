package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// The asset owner's qualification of patches per product release (domain.Qualification). A
// change never rewrites a row: it adds the next revision of its (patch, product, release) and
// the revision before stops being current, each change with its audit event, so the history
// answers when a hold was set, by whom, why, and when it was lifted.

// Where a qualification entry came from.
const (
	QualificationByPerson = "person"
	QualificationByImport = "import"
)

// QualificationEntry is one revision of the qualification of a patch for a product release.
type QualificationEntry struct {
	ID         string                     `json:"id"`
	PatchRef   string                     `json:"patch_ref" doc:"An otpatch patch id, or the vendor's update id (such as KB5034441) that patches' patch_ref is matched against"`
	Product    string                     `json:"product" doc:"The product id or name"`
	Release    string                     `json:"release" gorm:"column:release_name" doc:"The product release (13.0 covers 13.0.x; * covers every release)"`
	RefKey     string                     `json:"-"`
	ProductKey string                     `json:"-"`
	ReleaseKey string                     `json:"-"`
	Revision   int                        `json:"revision" doc:"1 for the first status of this patch, product and release; each change adds one"`
	Current    bool                       `json:"current" gorm:"column:is_current" doc:"Whether this is the status in force (false: a later revision replaced it)"`
	Status     domain.QualificationStatus `json:"status"`
	Reason     string                     `json:"reason,omitempty" doc:"Why (required for held and not_qualified); for an import, the vendor's notes"`
	Source     string                     `json:"source" doc:"person, or import: then source_vendor, source_list and source_date name the list"`
	Vendor     string                     `json:"source_vendor,omitempty" gorm:"column:source_vendor"`
	List       string                     `json:"source_list,omitempty" gorm:"column:source_list"`
	ListDate   string                     `json:"source_date,omitempty" gorm:"column:source_date" doc:"The date of the imported list (YYYY-MM-DD)"`
	ImportID   string                     `json:"import_id,omitempty" doc:"The import this revision came from"`
	SetBy      string                     `json:"set_by"`
	SetAt      time.Time                  `json:"set_at"`
}

// TableName maps QualificationEntry to its table.
func (QualificationEntry) TableName() string { return "qualification_entries" }

// Qualification is the entry as the domain rule reads it.
func (e QualificationEntry) Qualification() domain.Qualification {
	return domain.Qualification{PatchRef: e.PatchRef, Product: e.Product, Release: e.Release, Status: e.Status, Reason: e.Reason}
}

// QualificationSource names where a set of entries came from: a person, or a vendor's list.
type QualificationSource struct {
	Kind   string // QualificationByPerson or QualificationByImport
	Vendor string
	List   string
	Date   string // YYYY-MM-DD
}

func qualKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// QualificationChange is what one entry of a write did.
type QualificationChange struct {
	PatchRef string                     `json:"patch_ref"`
	Product  string                     `json:"product"`
	Release  string                     `json:"release"`
	Previous domain.QualificationStatus `json:"previous,omitempty" doc:"The status before (absent for a new entry)"`
	Status   domain.QualificationStatus `json:"status"`
}

// QualificationImport is what an import did.
type QualificationImport struct {
	ID        string                `json:"id"`
	Rows      int                   `json:"rows" doc:"The rows of the list"`
	Added     int                   `json:"added" doc:"Entries new to otpatch"`
	Changed   int                   `json:"changed" doc:"Entries whose status or reason the list changed"`
	Unchanged int                   `json:"unchanged" doc:"Entries the list states as they already were"`
	Matched   int                   `json:"matched_patches" doc:"Rows whose update id names a patch otpatch has (by id or patch_ref)"`
	Changes   []QualificationChange `json:"changes" doc:"The added and changed entries: the first 1000"`
}

// maxChangesListed bounds the changes an import answers and audits.
const maxChangesListed = 1000

// put writes q as the next revision of its key unless the current one already says the same
// (then it answers the current entry and false).
func (s *Store) putQualification(tx *gorm.DB, q domain.Qualification, src QualificationSource, importID, actor string, now time.Time) (QualificationEntry, *QualificationEntry, bool, error) {
	rk, pk, lk := qualKey(q.PatchRef), qualKey(q.Product), qualKey(q.Release)
	var cur QualificationEntry
	err := s.forUpdate(tx).Take(&cur, "ref_key = ? AND product_key = ? AND release_key = ? AND is_current = ?", rk, pk, lk, true).Error
	var prev *QualificationEntry
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
	case err != nil:
		return QualificationEntry{}, nil, false, err
	default:
		if cur.Status == q.Status && cur.Reason == q.Reason {
			return cur, &cur, false, nil
		}
		prev = &cur
		if err := tx.Model(&QualificationEntry{}).Where("id = ?", cur.ID).Update("is_current", false).Error; err != nil {
			return QualificationEntry{}, nil, false, err
		}
	}
	e := QualificationEntry{ID: NewID("qal"), PatchRef: q.PatchRef, Product: q.Product, Release: q.Release, RefKey: rk, ProductKey: pk, ReleaseKey: lk,
		Revision: 1, Current: true, Status: q.Status, Reason: q.Reason, Source: src.Kind, Vendor: src.Vendor, List: src.List, ListDate: src.Date,
		ImportID: importID, SetBy: actor, SetAt: now}
	if prev != nil {
		e.Revision = prev.Revision + 1
	}
	if err := tx.Create(&e).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return e, prev, false, fmt.Errorf("the qualification of %s for %s %s changed meanwhile; read it again: %w", q.PatchRef, q.Product, q.Release, ErrConflict)
		}
		return e, prev, false, err
	}
	return e, prev, true, nil
}

// qualificationAction is the audit action of a person's change from prev to status.
func qualificationAction(prev *QualificationEntry, status domain.QualificationStatus) string {
	switch {
	case status == domain.QualHeld:
		return "qualification.held"
	case prev != nil && prev.Status == domain.QualHeld:
		return "qualification.hold_lifted"
	}
	return "qualification.set"
}

// SetQualification records a person's qualification of a patch for a product release as its
// next revision, with its audit event: qualification.held when it holds the patch,
// qualification.hold_lifted when it replaces a hold, qualification.set otherwise. The same
// status and reason again changes nothing.
func (s *Store) SetQualification(ctx context.Context, q domain.Qualification, ev Event) (QualificationEntry, error) {
	if err := q.Validate(); err != nil {
		return QualificationEntry{}, err
	}
	var out QualificationEntry
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		e, prev, changed, err := s.putQualification(tx, q, QualificationSource{Kind: QualificationByPerson}, "", ev.Actor, s.Now())
		out = e
		if err != nil {
			return ev, err
		}
		if !changed {
			return ev, ErrUnchanged
		}
		ev.Action, ev.SubjectType, ev.SubjectID = qualificationAction(prev, q.Status), "qualification", e.ID
		details := map[string]any{"patch_ref": e.PatchRef, "product": e.Product, "release": e.Release, "status": e.Status, "reason": e.Reason, "revision": e.Revision}
		if prev != nil {
			details["previous_status"], details["previous_reason"], details["previous_id"] = prev.Status, prev.Reason, prev.ID
		}
		if p, ok := patchNamed(tx, e.PatchRef); ok {
			ev.PatchID = p
		}
		ev.Details = details
		return ev, nil
	})
	return out, err
}

// patchNamed is the id of the patch whose id is ref, or of the one patch whose patch_ref is ref.
func patchNamed(tx *gorm.DB, ref string) (string, bool) {
	var ids []string
	if err := tx.Model(&Patch{}).Where("id = ? OR LOWER(patch_ref) = ?", ref, qualKey(ref)).Limit(2).Pluck("id", &ids).Error; err != nil || len(ids) != 1 {
		return "", false
	}
	return ids[0], true
}

// ImportQualifications records the entries of a vendor's published list in one transaction
// with one audit event (qualification.imported) listing what it added and changed. Every entry
// must validate: the first failing one refuses the whole list and nothing is written (the API
// checks every row first and lists each fault). Entries the list states as they already are
// change nothing.
func (s *Store) ImportQualifications(ctx context.Context, src QualificationSource, qs []domain.Qualification, ev Event) (QualificationImport, error) {
	src.Kind = QualificationByImport
	out := QualificationImport{ID: NewID("qim"), Rows: len(qs), Changes: []QualificationChange{}}
	for i := range qs {
		if err := qs[i].Validate(); err != nil {
			return out, fmt.Errorf("entry %d: %w", i+1, err)
		}
	}
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		now := s.Now()
		out.Added, out.Changed, out.Unchanged, out.Matched = 0, 0, 0, 0
		out.Changes = out.Changes[:0]
		// The references patches are known by: their ids and patch_refs, read once.
		var known []Patch
		if err := tx.Model(&Patch{}).Select("id", "patch_ref").Find(&known).Error; err != nil {
			return ev, err
		}
		refs := make(map[string]bool, 2*len(known))
		for _, p := range known {
			refs[qualKey(p.ID)], refs[qualKey(p.PatchRef)] = true, true
		}
		for _, q := range qs {
			e, prev, changed, err := s.putQualification(tx, q, src, out.ID, ev.Actor, now)
			if err != nil {
				return ev, err
			}
			if refs[e.RefKey] {
				out.Matched++
			}
			switch {
			case !changed:
				out.Unchanged++
				continue
			case prev == nil:
				out.Added++
			default:
				out.Changed++
			}
			if len(out.Changes) < maxChangesListed {
				c := QualificationChange{PatchRef: e.PatchRef, Product: e.Product, Release: e.Release, Status: e.Status}
				if prev != nil {
					c.Previous = prev.Status
				}
				out.Changes = append(out.Changes, c)
			}
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "qualification.imported", "qualification_import", out.ID
		ev.Details = map[string]any{"vendor": src.Vendor, "list": src.List, "list_date": src.Date, "rows": out.Rows, "added": out.Added,
			"changed": out.Changed, "unchanged": out.Unchanged, "matched_patches": out.Matched, "changes": out.Changes}
		return ev, nil
	})
	return out, err
}

// QualificationFilter selects qualification entries. Empty fields select all.
type QualificationFilter struct {
	// Refs are patch references (patch ids or update ids); an entry matches any of them.
	Refs []string
	// Products are product ids or names; an entry matches any of them.
	Products []string
	Status   domain.QualificationStatus
	// History selects every revision, not only the current ones.
	History bool
	// After is the sort key of the last entry of the previous page (AfterKey); Limit bounds
	// the page (0: no limit).
	After []string
	Limit int
}

// QualificationKey is the sort key of an entry in a list: patch, product, release, revision.
func QualificationKey(e QualificationEntry) []string {
	return []string{e.RefKey, e.ProductKey, e.ReleaseKey, fmt.Sprintf("%010d", e.Revision)}
}

// Qualifications reads the entries f selects ordered by patch reference, product, release
// (lower-case) and revision: one keyset page after f.After.
func (s *Store) Qualifications(ctx context.Context, f QualificationFilter) ([]QualificationEntry, error) {
	q := s.db.WithContext(ctx).Model(&QualificationEntry{})
	if !f.History {
		q = q.Where("is_current = ?", true)
	}
	if len(f.Refs) > 0 {
		q = q.Where("ref_key IN ?", keysOf(f.Refs))
	}
	if len(f.Products) > 0 {
		q = q.Where("product_key IN ?", keysOf(f.Products))
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if len(f.After) == 4 {
		rev, _ := strconv.Atoi(f.After[3])
		q = q.Where("(ref_key > ? OR (ref_key = ? AND (product_key > ? OR (product_key = ? AND (release_key > ? OR (release_key = ? AND revision > ?))))))",
			f.After[0], f.After[0], f.After[1], f.After[1], f.After[2], f.After[2], rev)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	out := []QualificationEntry{}
	return out, q.Order("ref_key, product_key, release_key, revision").Find(&out).Error
}

func keysOf(vs []string) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, qualKey(v))
	}
	return out
}

// PatchQualifications reads the current entries of a patch: those naming it by id or by its
// patch_ref, for its product by id or by name (the product's catalogue name, or the name
// the manifest gives).
func (s *Store) PatchQualifications(ctx context.Context, p Patch) ([]QualificationEntry, error) {
	products := []string{p.ProductID}
	var prod Product
	if err := s.db.WithContext(ctx).Take(&prod, "id = ?", p.ProductID).Error; err == nil && prod.Name != "" {
		products = append(products, prod.Name)
	}
	if m, err := ManifestOf(p); err == nil && m.Product != "" {
		products = append(products, m.Product)
	}
	refs := []string{p.ID}
	if p.PatchRef != "" {
		refs = append(refs, p.PatchRef)
	}
	return s.Qualifications(ctx, QualificationFilter{Refs: refs, Products: products})
}

// CampaignVersions lists the distinct installed versions the campaign's targets (its test
// bench included) were planned from.
func (s *Store) CampaignVersions(ctx context.Context, campaignID string) ([]string, error) {
	var out []string
	return out, s.db.WithContext(ctx).Model(&CampaignAsset{}).Where("campaign_id = ?", campaignID).Distinct().Pluck("from_version", &out).Error
}
