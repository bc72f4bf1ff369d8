package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/testenv"
)

// The suite runs every test on SQLite (a temporary file) and on PostgreSQL (a fresh database
// on the server named by OTPATCH_TEST_POSTGRES; skipped when it is unset, a failure when
// OTPATCH_REQUIRE_SERVICES=1).
func forEachDB(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, filepath.Join(t.TempDir(), "otpatch.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, testenv.PostgresDSN(t))
	})
}

// clock is a store clock that moves one millisecond per reading, so rows ordered by time
// have a definite order on every database.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	c := &clock{t: time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)}
	st, err := Open(dsn, Options{Now: c.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newStore(t *testing.T, dsn string) *Store {
	t.Helper()
	st := openStore(t, dsn)
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

func latestVersion(t *testing.T) int {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].version
}

func allVersions(t *testing.T) []int {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, m := range ms {
		out = append(out, m.version)
	}
	return out
}

func auditCount(t *testing.T, st *Store) int64 {
	t.Helper()
	var n int64
	if err := st.DB().Table("audit_events").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func indexExists(t *testing.T, st *Store, name string) bool {
	t.Helper()
	var n int64
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`
	if st.Dialect() == "postgres" {
		q = `SELECT COUNT(*) FROM pg_indexes WHERE indexname = ?`
	}
	if err := st.DB().Raw(q, name).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestMigrations(t *testing.T) {
	versions := allVersions(t)
	// Two files with one number would apply only the first: the second counts as applied.
	for i := 1; i < len(versions); i++ {
		if versions[i] == versions[i-1] {
			t.Fatalf("two migrations are numbered %d (%v)", versions[i], versions)
		}
	}
	if versions[0] != 1 {
		t.Fatalf("migrations start at version %d, want 1", versions[0])
	}
	ctx := context.Background()

	forEachDB(t, func(t *testing.T, dsn string) {
		{
			st := openStore(t, dsn)
			if v, err := st.SchemaVersion(ctx); err == nil && v != 0 {
				t.Fatalf("SchemaVersion of an empty database = %d", v)
			}
			applied, err := st.Migrate(ctx)
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if !slices.Equal(applied, versions) {
				t.Fatalf("Migrate applied %v, want %v", applied, versions)
			}
			if v, err := st.SchemaVersion(ctx); err != nil || v != latestVersion(t) {
				t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, latestVersion(t))
			}
			again, err := st.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("second Migrate applied %v, %v; want nothing", again, err)
			}
			var rows int64
			st.DB().Table("schema_migrations").Count(&rows)
			if rows != int64(len(versions)) {
				t.Fatalf("schema_migrations has %d rows, want %d", rows, len(versions))
			}
			// The fresh schema is usable: the audit chain starts empty and verifies.
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Events != 0 {
				t.Fatalf("VerifyAudit on a fresh schema = %+v, %v", res, err)
			}
		}
	})
}

// v1Data is what an otpatch at schema version 1 stored, written with that version's SQL so the
// test does not depend on today's record types.
type v1Data struct {
	window domain.Window
	secret string
	events int64
	head   string
	sig    string
	man    []byte
}

func seedV1(t *testing.T, st *Store) v1Data {
	t.Helper()
	exec := func(sql string, args ...any) {
		t.Helper()
		if err := st.DB().Exec(sql, args...).Error; err != nil {
			t.Fatalf("%s: %v", firstLine(sql), err)
		}
	}
	now := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	d := v1Data{secret: "otp_v1_vendor_token", window: domain.Window{Cron: "0 2 * * 6", Duration: domain.Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}}
	pub, priv, err := signing.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d.man = []byte(`{"schema":"otpatch.manifest/v1","vendor":"siemens","product":"simatic-s7-1500","patch_id":"SSA-712929","version":"V3.1.4","title":"S7-1500 firmware","release_date":"2024-05-14","affected_versions":["< V3.1.4"],"fixed_version":"V3.1.4","artifacts":[{"name":"fw.upd","size":1024,"sha256":"` + strings.Repeat("4f", 32) + `"}]}`)
	d.sig = signing.Sign(priv, d.man)
	win, err := json.Marshal(d.window)
	if err != nil {
		t.Fatal(err)
	}

	exec(`INSERT INTO vendors (id, name, display_name, created_at) VALUES (?, ?, ?, ?)`, "vnd_v1", "siemens", "Siemens AG", now)
	exec(`INSERT INTO vendor_keys (id, vendor_id, public_key, fingerprint, not_before, not_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		"key_v1", "vnd_v1", signing.EncodePublic(pub), signing.Fingerprint(pub), now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0), now)
	exec(`INSERT INTO tokens (id, name, role, vendor_id, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		"tok_v1", "siemens-ci", "vendor", "vnd_v1", HashToken(d.secret), now)
	exec(`INSERT INTO sites (id, name, created_at) VALUES (?, ?, ?)`, "site_v1", "Basel Works", now)
	exec(`INSERT INTO zones (id, site_id, name, sl_t, test_bench, window_spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		"zone_v1", "site_v1", "Cell 3", 2, false, string(win), now, now)
	exec(`INSERT INTO products (id, vendor_id, name, kind) VALUES (?, ?, ?, ?)`, "prd_v1", "vnd_v1", "simatic-s7-1500", "plc")
	for _, a := range []struct{ id, name, version string }{{"ast_v1a", "PLC-301", "V3.0 Update 2"}, {"ast_v1b", "PLC-302", "V2.9.4"}} {
		exec(`INSERT INTO assets (id, zone_id, product_id, name, installed_version, criticality, safety_critical, redundancy_group, adapter, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.id, "zone_v1", "prd_v1", a.name, a.version, 2, false, "cell3", "simulator", now, now)
	}
	exec(`INSERT INTO patches (id, vendor_id, product_id, patch_ref, version, title, status, manifest, manifest_sha256, signature, key_fingerprint, reasons, applicable, submitted_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, "pat_v1", "vnd_v1", "prd_v1", "SSA-712929", "V3.1.4", "S7-1500 firmware", "qualified",
		string(d.man), strings.Repeat("aa", 32), d.sig, signing.Fingerprint(pub), "[]", `["ast_v1a","ast_v1b"]`, "siemens-ci", now, now)
	exec(`INSERT INTO patch_artifacts (patch_id, name, object_key, size, sha256, media_type) VALUES (?, ?, ?, ?, ?, ?)`,
		"pat_v1", "fw.upd", "patches/pat_v1/fw.upd", 1024, strings.Repeat("4f", 32), "")
	exec(`INSERT INTO campaigns (id, name, patch_id, status, detail, created_by, plan, plan_digest, workflow_id, next_window_start, next_window_end, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, "cmp_v1", "June", "pat_v1", "scheduled", "waiting for window", "ed.eng", "{}", "d1", "campaign-cmp_v1",
		now.Add(24*time.Hour), now.Add(28*time.Hour), now, now)
	exec(`INSERT INTO campaign_assets (campaign_id, asset_id, test_bench, wave, state, from_version, to_version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		"cmp_v1", "ast_v1a", false, 1, "backed_up", "V3.0 Update 2", "V3.1.4", now)
	exec(`INSERT INTO approvals (id, campaign_id, actor, role, decision, reason, plan_digest, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		"apr_v1", "cmp_v1", "omar.ops", "approver", "approved", "", "d1", now)

	head, hash := int64(0), ""
	for i, action := range []string{"vendor.created", "zone.created", "patch.submitted", "campaign.created", "campaign.approved"} {
		e := audit.Event{At: audit.FormatTime(now.Add(time.Duration(i) * time.Minute)), Actor: "root", Role: "admin", Action: action,
			SubjectType: "campaign", SubjectID: "cmp_v1", CampaignID: "cmp_v1", Details: "{}"}
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		exec(`INSERT INTO audit_events (seq, at, actor, role, action, subject_type, subject_id, campaign_id, patch_id, asset_id, request_id, workflow_id, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID,
			e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details, e.PrevHash, e.Hash)
	}
	exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head, hash)
	d.events, d.head = head, hash
	return d
}

func TestMigrateUpgradeKeepsData(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := openStore(t, dsn)
		applied, err := st.MigrateTo(ctx, 1)
		if err != nil || !slices.Equal(applied, []int{1}) {
			t.Fatalf("MigrateTo(1) applied %v, %v; want [1]", applied, err)
		}
		if v, _ := st.SchemaVersion(ctx); v != 1 {
			t.Fatalf("SchemaVersion after MigrateTo(1) = %d", v)
		}
		if indexExists(t, st, "audit_events_campaign") {
			t.Fatal("an index of migration 2 exists at version 1")
		}
		d := seedV1(t, st)

		applied, err = st.Migrate(ctx)
		if err != nil {
			t.Fatalf("Migrate from version 1: %v", err)
		}
		if want := allVersions(t)[1:]; !slices.Equal(applied, want) {
			t.Fatalf("Migrate from version 1 applied %v, want %v", applied, want)
		}
		if !indexExists(t, st, "audit_events_campaign") {
			t.Fatal("migration 2's index audit_events_campaign is missing after the upgrade")
		}

		// A restarted process reads everything back through today's code.
		st2 := openStore(t, dsn)
		if v, _ := st2.SchemaVersion(ctx); v != latestVersion(t) {
			t.Fatalf("SchemaVersion after upgrade = %d, want %d", v, latestVersion(t))
		}
		if v, err := st2.VendorByName(ctx, "siemens"); err != nil || v.ID != "vnd_v1" || v.DisplayName != "Siemens AG" {
			t.Fatalf("vendor after upgrade = %+v, %v", v, err)
		}
		keys, err := st2.TrustedKeys(ctx, "vnd_v1")
		if err != nil || len(keys) != 1 {
			t.Fatalf("TrustedKeys after upgrade = %+v, %v", keys, err)
		}
		if _, err := signing.VerifyTrusted(keys, d.man, d.sig, time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("a patch signed before the upgrade no longer verifies: %v", err)
		}
		if a, err := st2.Authenticate(ctx, d.secret); err != nil || a.Name != "siemens-ci" || a.VendorID != "vnd_v1" {
			t.Fatalf("token issued before the upgrade = %+v, %v", a, err)
		}
		if z, err := st2.Zone(ctx, "zone_v1"); err != nil || !reflect.DeepEqual(z.Window, d.window) {
			t.Fatalf("zone after upgrade = %+v, %v; want window %+v", z, err, d.window)
		}
		if as, err := st2.Assets(ctx, AssetFilter{ZoneID: "zone_v1"}); err != nil || len(as) != 2 || as[1].InstalledVersion != "V2.9.4" {
			t.Fatalf("assets after upgrade = %+v, %v", as, err)
		}
		p, err := st2.Patch(ctx, "pat_v1")
		if err != nil || p.Status != "qualified" || p.Applicable != `["ast_v1a","ast_v1b"]` {
			t.Fatalf("patch after upgrade = %+v, %v", p, err)
		}
		if m, err := ManifestOf(p); err != nil || m.FixedVersion != "V3.1.4" {
			t.Fatalf("manifest after upgrade = %+v, %v", m, err)
		}
		if arts, err := st2.PatchArtifacts(ctx, "pat_v1"); err != nil || len(arts) != 1 || arts[0].Size != 1024 {
			t.Fatalf("artifacts after upgrade = %+v, %v", arts, err)
		}
		c, err := st2.Campaign(ctx, "cmp_v1")
		if err != nil || c.Status != "scheduled" || c.NextWindowStart == nil || !c.NextWindowStart.Equal(time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)) {
			t.Fatalf("campaign after upgrade = %+v, %v", c, err)
		}
		if ts, err := st2.CampaignAssets(ctx, "cmp_v1"); err != nil || len(ts) != 1 || ts[0].State != "backed_up" {
			t.Fatalf("targets after upgrade = %+v, %v", ts, err)
		}
		if aps, err := st2.Approvals(ctx, "cmp_v1"); err != nil || len(aps) != 1 || aps[0].Actor != "omar.ops" {
			t.Fatalf("approvals after upgrade = %+v, %v", aps, err)
		}
		res, err := st2.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Events != d.events || res.HeadHash != d.head {
			t.Fatalf("VerifyAudit after upgrade = %+v, %v; want OK with %d events", res, err, d.events)
		}
		// Today's code continues the old chain.
		if err := st2.CreateVendor(ctx, &Vendor{Name: "abb", DisplayName: "ABB"}, Event{Actor: "root", Role: "admin"}); err != nil {
			t.Fatalf("CreateVendor after upgrade: %v", err)
		}
		if res, err := st2.VerifyAudit(ctx); err != nil || !res.OK || res.Events != d.events+1 {
			t.Fatalf("VerifyAudit after a new event = %+v, %v", res, err)
		}
		if again, err := st2.Migrate(ctx); err != nil || len(again) != 0 {
			t.Fatalf("Migrate after upgrade applied %v, %v; want nothing", again, err)
		}
	})
}

// Two processes that start together (API and worker) both migrate; each migration must be
// applied exactly once and neither may fail.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		const procs = 4
		stores := make([]*Store, procs)
		for i := range stores {
			stores[i] = openStore(t, dsn)
		}
		var wg sync.WaitGroup
		applied := make([][]int, procs)
		errs := make([]error, procs)
		for i, st := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				applied[i], errs[i] = st.Migrate(ctx)
			}()
		}
		wg.Wait()
		var all []int
		for i := range stores {
			if errs[i] != nil {
				t.Errorf("process %d: Migrate: %v", i, errs[i])
			}
			all = append(all, applied[i]...)
		}
		slices.Sort(all)
		if want := allVersions(t); !slices.Equal(all, want) {
			t.Fatalf("migrations applied %v across %d processes, want each of %v exactly once", all, procs, want)
		}
	})
}

func TestWriteIsAtomic(t *testing.T) {
	ctx := context.Background()
	ev := Event{Actor: "ed.eng", Role: "engineer", Action: "vendor.created"}
	insertVendor := func(name string) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error {
			return tx.Create(&Vendor{ID: "vnd_" + name, Name: name, DisplayName: name, CreatedAt: time.Now()}).Error
		}
	}
	boom := errors.New("adapter unreachable")
	tests := []struct {
		name    string
		ev      Event
		fn      func(tx *gorm.DB) error
		wantErr error // nil: Write succeeds
		stored  bool  // the vendor row exists afterwards
		events  int64 // audit events afterwards
	}{
		{name: "mutation and event commit together", ev: ev, fn: insertVendor("abb"), stored: true, events: 1},
		{name: "failing function leaves neither row nor event", ev: ev,
			fn: func(tx *gorm.DB) error {
				if err := insertVendor("abb")(tx); err != nil {
					return err
				}
				return boom
			}, wantErr: boom},
		{name: "ErrUnchanged writes nothing and is no error", ev: ev,
			fn: func(tx *gorm.DB) error {
				if err := insertVendor("abb")(tx); err != nil {
					return err
				}
				return ErrUnchanged
			}},
		{name: "failing audit event undoes the mutation",
			ev:      Event{Actor: "ed.eng", Role: "engineer", Action: "vendor.created", Details: map[string]any{"bad": func() {}}},
			fn:      insertVendor("abb"),
			wantErr: errors.New("audit details"),
		},
		{name: "event without a mutation", ev: ev, fn: nil, events: 1},
	}
	forEachDB(t, func(t *testing.T, dsn string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st := newStore(t, dsn)
				// Each case starts from an empty trail; clear what an earlier case left.
				st.DB().Exec(`DELETE FROM audit_events`)
				st.DB().Exec(`DELETE FROM audit_nodes`)
				st.DB().Exec(`DELETE FROM vendors`)
				st.DB().Exec(`UPDATE audit_head SET seq = 0, hash = '', tree_size = 0, tree_root = '' WHERE id = 1`)

				err := st.Write(ctx, tt.ev, tt.fn)
				switch {
				case tt.wantErr == nil && err != nil:
					t.Fatalf("Write: %v", err)
				case tt.wantErr != nil && err == nil:
					t.Fatalf("Write succeeded, want %v", tt.wantErr)
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error()):
					t.Fatalf("Write = %v, want %v", err, tt.wantErr)
				}
				_, verr := st.Vendor(ctx, "vnd_abb")
				if stored := verr == nil; stored != tt.stored {
					t.Errorf("vendor row stored = %v, want %v (%v)", stored, tt.stored, verr)
				}
				if n := auditCount(t, st); n != tt.events {
					t.Errorf("%d audit events, want %d", n, tt.events)
				}
				res, err := st.VerifyAudit(ctx)
				if err != nil || !res.OK || res.HeadSeq != tt.events {
					t.Errorf("VerifyAudit = %+v, %v; want OK with head %d (the head moves only with an event)", res, err, tt.events)
				}
			})
		}
	})
}

// appendEvents writes n events as refused requests would.
func appendEvents(t *testing.T, st *Store, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := range n {
		e, err := st.Append(context.Background(), Event{Actor: "omar.ops", Role: "approver", Action: "request.refused",
			SubjectType: "request", SubjectID: "POST /api/v1/campaigns", RequestID: fmt.Sprintf("req-%d", i),
			Details: map[string]any{"status": 403, "n": i}})
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// Tampering done directly in the database, as someone with database access would, is found
// by VerifyAudit, which names the first broken event.
func TestVerifyAuditDetectsTampering(t *testing.T) {
	const n = 6
	exec := func(t *testing.T, st *Store, sql string, args ...any) {
		t.Helper()
		if err := st.DB().Exec(sql, args...).Error; err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	setContent := func(t *testing.T, st *Store, seq int64, e audit.Event) {
		exec(t, st, `UPDATE audit_events SET at = ?, actor = ?, role = ?, action = ?, subject_type = ?, subject_id = ?,
			campaign_id = ?, patch_id = ?, asset_id = ?, request_id = ?, workflow_id = ?, details = ?, prev_hash = ?, hash = ?
			WHERE seq = ?`, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID, e.CampaignID, e.PatchID, e.AssetID,
			e.RequestID, e.WorkflowID, e.Details, e.PrevHash, e.Hash, seq)
	}
	insert := func(t *testing.T, st *Store, e audit.Event) {
		if err := st.DB().Table("audit_events").Create(&e).Error; err != nil {
			t.Fatalf("insert forged event: %v", err)
		}
	}
	tests := []struct {
		name     string
		tamper   func(t *testing.T, st *Store, events []audit.Event)
		brokenAt int64
		problem  string
	}{
		{name: "untouched", tamper: func(*testing.T, *Store, []audit.Event) {}},
		{name: "field changed", brokenAt: 3, problem: "event 3 was altered",
			tamper: func(t *testing.T, st *Store, _ []audit.Event) {
				exec(t, st, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`)
			}},
		{name: "details changed", brokenAt: 5, problem: "event 5 was altered",
			tamper: func(t *testing.T, st *Store, _ []audit.Event) {
				exec(t, st, `UPDATE audit_events SET details = '{"n":4,"status":200}' WHERE seq = 5`)
			}},
		{name: "row deleted", brokenAt: 3, problem: "expected event 3 next but found 4",
			tamper: func(t *testing.T, st *Store, _ []audit.Event) {
				exec(t, st, `DELETE FROM audit_events WHERE seq = 3`)
			}},
		{name: "two rows' content swapped", brokenAt: 2, problem: "event 2 does not link to event 1",
			tamper: func(t *testing.T, st *Store, ev []audit.Event) {
				setContent(t, st, 2, ev[3])
				setContent(t, st, 4, ev[1])
			}},
		{name: "forged row inserted with its own hash but not linked", brokenAt: n + 1, problem: fmt.Sprintf("event %d does not link to event %d", n+1, n),
			tamper: func(t *testing.T, st *Store, ev []audit.Event) {
				f := ev[n-1]
				f.Seq, f.Actor, f.Role, f.Action, f.PrevHash = n+1, "mallory", "approver", "campaign.approved", audit.GenesisHash
				f.Hash = f.ComputeHash()
				insert(t, st, f)
				exec(t, st, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, f.Seq, f.Hash)
			}},
		{name: "forged row linked to the chain, head not moved", brokenAt: n + 1, problem: fmt.Sprintf("the recorded head is event %d", n),
			tamper: func(t *testing.T, st *Store, ev []audit.Event) {
				f := audit.Event{At: ev[n-1].At, Actor: "mallory", Role: "approver", Action: "campaign.approved",
					SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1", Details: "{}"}
				f.Seal(ev[n-1].Seq, ev[n-1].Hash)
				insert(t, st, f)
			}},
		{name: "tail truncated", brokenAt: n - 1, problem: fmt.Sprintf("the chain ends at event %d but the recorded head is event %d", n-2, n),
			tamper: func(t *testing.T, st *Store, _ []audit.Event) {
				exec(t, st, `DELETE FROM audit_events WHERE seq > ?`, n-2)
			}},
		{name: "whole trail deleted", brokenAt: 1, problem: "events were removed from the tail",
			tamper: func(t *testing.T, st *Store, _ []audit.Event) {
				exec(t, st, `DELETE FROM audit_events`)
			}},
	}
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		ctx := context.Background()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// A fresh trail for each case.
				st.DB().Exec(`DELETE FROM audit_events`)
				st.DB().Exec(`DELETE FROM audit_nodes`)
				st.DB().Exec(`UPDATE audit_head SET seq = 0, hash = '', tree_size = 0, tree_root = '' WHERE id = 1`)
				events := appendEvents(t, st, n)
				tt.tamper(t, st, events)
				res, err := st.VerifyAudit(ctx)
				if err != nil {
					t.Fatalf("VerifyAudit: %v", err)
				}
				if tt.brokenAt == 0 {
					if !res.OK || res.Events != n || res.HeadSeq != n || res.HeadHash != events[n-1].Hash {
						t.Fatalf("VerifyAudit = %+v, want OK with %d events", res, n)
					}
					return
				}
				if res.OK {
					t.Fatalf("VerifyAudit = %+v: tampering went unnoticed", res)
				}
				if res.BrokenAt != tt.brokenAt {
					t.Errorf("BrokenAt = %d, want %d (%s)", res.BrokenAt, tt.brokenAt, res.Problem)
				}
				if !strings.Contains(res.Problem, tt.problem) {
					t.Errorf("Problem = %q, want it to say %q", res.Problem, tt.problem)
				}
			})
		}
	})
}

// VerifyAudit reads the trail in pages of 1000; the chain must carry across pages and a break
// in a later page must be found.
func TestVerifyAuditAcrossPages(t *testing.T) {
	const n = 2500
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		rows := make([]audit.Event, n)
		head, hash := int64(0), ""
		for i := range rows {
			rows[i] = audit.Event{At: audit.FormatTime(time.Date(2025, 6, 10, 0, 0, i, 0, time.UTC)), Actor: "otpatch", Role: "system",
				Action: "asset.state", SubjectType: "asset", SubjectID: fmt.Sprintf("ast_%d", i), Details: "{}"}
			rows[i].Seal(head, hash)
			head, hash = rows[i].Seq, rows[i].Hash
		}
		if err := st.DB().Table("audit_events").CreateInBatches(&rows, 500).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head, hash).Error; err != nil {
			t.Fatal(err)
		}
		res, err := st.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Events != n || res.HeadSeq != n {
			t.Fatalf("VerifyAudit = %+v, %v; want OK with %d events", res, err, n)
		}
		// Migrating adds the imported events to the tree; a new event continues the chain.
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		e, err := st.Append(ctx, Event{Actor: "ann.audit", Role: "auditor", Action: "audit.verified", SubjectType: "audit", SubjectID: "chain"})
		if err != nil || e.Seq != n+1 || e.PrevHash != hash {
			t.Fatalf("Append after %d events = seq %d prev %s, %v; want seq %d linked to %s", n, e.Seq, e.PrevHash, err, n+1, hash)
		}
		if err := st.DB().Exec(`UPDATE audit_events SET subject_id = 'ast_x' WHERE seq = 2001`).Error; err != nil {
			t.Fatal(err)
		}
		res, err = st.VerifyAudit(ctx)
		if err != nil || res.OK || res.BrokenAt != 2001 || res.Events != 2000 {
			t.Fatalf("VerifyAudit = %+v, %v; want broken at 2001 after 2000 good events", res, err)
		}
	})
}

// Concurrent writers (API requests, activities) never produce a gap, a duplicate or a fork in
// the audit sequence.
func TestAuditSequenceUnderConcurrentWriters(t *testing.T) {
	const writers, each = 8, 25
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		var wg sync.WaitGroup
		seqs := make(chan int64, writers*each)
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e, err := st.Append(ctx, Event{Actor: fmt.Sprintf("writer-%d", w), Role: "system", Action: "test.append",
						SubjectType: "test", SubjectID: fmt.Sprint(i), Details: map[string]any{"w": w, "i": i}})
					if err != nil {
						errs <- err
						return
					}
					seqs <- e.Seq
				}
			}()
		}
		wg.Wait()
		close(seqs)
		close(errs)
		for err := range errs {
			t.Errorf("Append: %v", err)
		}
		var got []int64
		for s := range seqs {
			got = append(got, s)
		}
		slices.Sort(got)
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("Append returned sequence numbers %v…; want 1..%d each once", got[:min(len(got), i+3)], writers*each)
			}
		}
		events, err := st.AuditEvents(ctx, AuditFilter{})
		if err != nil || len(events) != writers*each {
			t.Fatalf("AuditEvents = %d events, %v; want %d", len(events), err, writers*each)
		}
		perWriter := map[string][]string{}
		for i, e := range events {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d: the stored sequence has a gap", i+1, e.Seq)
			}
			perWriter[e.Actor] = append(perWriter[e.Actor], e.SubjectID)
		}
		for w, ids := range perWriter {
			for i, id := range ids {
				if id != fmt.Sprint(i) {
					t.Fatalf("%s's events are stored in the order %v, not the order they were written", w, ids)
				}
			}
		}
		res, err := st.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Events != writers*each {
			t.Fatalf("VerifyAudit = %+v, %v; want OK with %d events", res, err, writers*each)
		}
	})
}

func TestAuditEventsFilter(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		for _, ev := range []Event{
			{Actor: "ed.eng", Role: "engineer", Action: "campaign.created", SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1", PatchID: "pat_1"},
			{Actor: "otpatch", Role: "system", Action: "asset.state", SubjectType: "asset", SubjectID: "ast_1", CampaignID: "cmp_1", AssetID: "ast_1"},
			{Actor: "otpatch", Role: "system", Action: "asset.state", SubjectType: "asset", SubjectID: "ast_2", CampaignID: "cmp_2", AssetID: "ast_2"},
			{Actor: "omar.ops", Role: "approver", Action: "campaign.approved", SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1"},
		} {
			if _, err := st.Append(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			f    AuditFilter
			want []int64
		}{
			{"all", AuditFilter{}, []int64{1, 2, 3, 4}},
			{"after", AuditFilter{AfterSeq: 2}, []int64{3, 4}},
			{"limit", AuditFilter{Limit: 2}, []int64{1, 2}},
			{"campaign", AuditFilter{CampaignID: "cmp_1"}, []int64{1, 2, 4}},
			{"patch", AuditFilter{PatchID: "pat_1"}, []int64{1}},
			{"asset", AuditFilter{AssetID: "ast_2"}, []int64{3}},
			{"actor and action", AuditFilter{Actor: "otpatch", Action: "asset.state", CampaignID: "cmp_1"}, []int64{2}},
			{"nothing matches", AuditFilter{Actor: "nobody"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				events, err := st.AuditEvents(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, e := range events {
					got = append(got, e.Seq)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("AuditEvents(%+v) = seqs %v, want %v", tt.f, got, tt.want)
				}
			})
		}
	})
}
