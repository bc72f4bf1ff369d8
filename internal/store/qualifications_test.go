package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

// A hold set, lifted and set again keeps every revision, each with its audit event; the patch
// finds its entries by id or patch_ref and by product id or name, case aside.
func TestQualificationHistory(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		f := seed(t, st)
		ctx := context.Background()
		eng := Event{Actor: "ed.eng", Role: "engineer"}
		set := func(q domain.Qualification) QualificationEntry {
			t.Helper()
			e, err := st.SetQualification(ctx, q, eng)
			check(t, "SetQualification", err)
			return e
		}
		before := auditCount(t, st)
		hold := domain.Qualification{PatchRef: "ssa-712929", Product: "SIMATIC-S7-1500", Release: "V3.0", Status: domain.QualHeld, Reason: "bench PLC faulted after the update"}
		first := set(hold)
		if first.Revision != 1 || !first.Current || first.SetBy != "ed.eng" || first.Source != QualificationByPerson {
			t.Errorf("first entry %+v", first)
		}
		if ev := lastEvent(t, st); ev.Action != "qualification.held" || ev.PatchID != f.patch.ID {
			t.Errorf("audit %s for patch %q, want qualification.held for %s", ev.Action, ev.PatchID, f.patch.ID)
		}
		// The same hold again changes nothing.
		if again := set(hold); again.ID != first.ID {
			t.Errorf("the same hold again made a revision: %+v", again)
		}
		lifted := set(domain.Qualification{PatchRef: "SSA-712929", Product: "simatic-s7-1500", Release: "V3.0", Status: domain.QualQualified})
		if lifted.Revision != 2 {
			t.Errorf("lifted: revision %d", lifted.Revision)
		}
		if ev := lastEvent(t, st); ev.Action != "qualification.hold_lifted" {
			t.Errorf("audit %s, want qualification.hold_lifted", ev.Action)
		}
		other := set(domain.Qualification{PatchRef: f.patch.ID, Product: f.product.ID, Release: "*", Status: domain.QualUnderTest})
		set(domain.Qualification{PatchRef: "KB5034441", Product: f.product.Name, Release: "V3.0", Status: domain.QualQualified})
		if n := auditCount(t, st) - before; n != 4 {
			t.Errorf("%d audit events, want 4 (held, lifted, two set)", n)
		}

		cur, err := st.PatchQualifications(ctx, f.patch)
		check(t, "PatchQualifications", err)
		var ids []string
		for _, e := range cur {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, []string{other.ID, lifted.ID}) && !slices.Equal(ids, []string{lifted.ID, other.ID}) {
			t.Errorf("current entries of the patch %v, want %s and %s", ids, lifted.ID, other.ID)
		}
		hist, err := st.Qualifications(ctx, QualificationFilter{Refs: []string{"SSA-712929"}, History: true})
		check(t, "history", err)
		if len(hist) != 2 || hist[0].ID != first.ID || hist[0].Current || hist[1].ID != lifted.ID || !hist[1].Current {
			t.Errorf("history %+v", hist)
		}
		held, err := st.Qualifications(ctx, QualificationFilter{Status: domain.QualHeld})
		check(t, "held", err)
		if len(held) != 0 {
			t.Errorf("%d current holds after the lift", len(held))
		}
		// Pages: one entry at a time through the three current ones.
		var paged []string
		var after []string
		for range 5 {
			pg, err := st.Qualifications(ctx, QualificationFilter{After: after, Limit: 1})
			check(t, "page", err)
			if len(pg) == 0 {
				break
			}
			paged = append(paged, pg[0].ID)
			after = QualificationKey(pg[0])
		}
		if len(paged) != 3 {
			t.Errorf("paged through %d entries, want 3", len(paged))
		}

		var ve *domain.ValidationError
		if _, err := st.SetQualification(ctx, domain.Qualification{PatchRef: "KB1", Product: "p", Release: "1", Status: domain.QualHeld}, eng); !errors.As(err, &ve) {
			t.Errorf("a hold without reason: %v", err)
		}
	})
}

// An import writes every entry in one transaction with one audit event, and an import of the
// same list again changes nothing; an invalid entry refuses the whole list.
func TestQualificationImport(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		f := seed(t, st)
		ctx := context.Background()
		eng := Event{Actor: "ed.eng", Role: "engineer"}
		_, err := st.SetQualification(ctx, domain.Qualification{PatchRef: "SSA-712929", Product: f.product.Name, Release: "V3.0", Status: domain.QualUnderTest}, eng)
		check(t, "set", err)
		src := QualificationSource{Vendor: "Siemens AG", List: "S7 qualification", Date: "2026-11-30"}
		list := []domain.Qualification{
			{PatchRef: "SSA-712929", Product: f.product.Name, Release: "V3.0", Status: domain.QualHeld, Reason: "vendor hold"},
			{PatchRef: "SSA-712929", Product: f.product.Name, Release: "V2.9", Status: domain.QualQualified},
			{PatchRef: "KB5034441", Product: "WinCC", Release: "8.0", Status: domain.QualPartiallyQualified},
		}
		before := auditCount(t, st)
		imp, err := st.ImportQualifications(ctx, src, list, eng)
		check(t, "import", err)
		if imp.Added != 2 || imp.Changed != 1 || imp.Unchanged != 0 || imp.Matched != 2 || len(imp.Changes) != 3 || imp.Changes[0].Previous != domain.QualUnderTest {
			t.Errorf("import %+v", imp)
		}
		if n := auditCount(t, st) - before; n != 1 {
			t.Errorf("%d audit events, want 1", n)
		}
		if ev := lastEvent(t, st); ev.Action != "qualification.imported" {
			t.Errorf("audit %s", ev.Action)
		}
		cur, err := st.Qualifications(ctx, QualificationFilter{Refs: []string{"SSA-712929"}, Status: domain.QualHeld})
		check(t, "held", err)
		if len(cur) != 1 || cur[0].Source != QualificationByImport || cur[0].Vendor != "Siemens AG" || cur[0].ListDate != "2026-11-30" || cur[0].ImportID != imp.ID {
			t.Errorf("imported hold %+v", cur)
		}
		again, err := st.ImportQualifications(ctx, src, list, eng)
		check(t, "import again", err)
		if again.Unchanged != 3 || again.Added+again.Changed != 0 {
			t.Errorf("the same list again %+v", again)
		}
		before = auditCount(t, st)
		bad := append(slices.Clone(list[:1]), domain.Qualification{PatchRef: "KB2", Product: "WinCC", Release: "8.0", Status: "hold"})
		bad[0].Status, bad[0].Reason = domain.QualQualified, ""
		if _, err := st.ImportQualifications(ctx, src, bad, eng); err == nil {
			t.Fatal("a list with an invalid entry was imported")
		}
		if n := auditCount(t, st) - before; n != 0 {
			t.Errorf("a refused list wrote %d audit events", n)
		}
		if cur, _ := st.Qualifications(ctx, QualificationFilter{Refs: []string{"SSA-712929"}, Status: domain.QualHeld}); len(cur) != 1 {
			t.Errorf("a refused list changed the hold: %+v", cur)
		}
		vs, err := st.CampaignVersions(ctx, f.campaign.ID)
		check(t, "CampaignVersions", err)
		slices.Sort(vs)
		if !slices.Equal(vs, []string{"V2.9.4", "V3.0 Update 2"}) {
			t.Errorf("campaign versions %v", vs)
		}
	})
}
