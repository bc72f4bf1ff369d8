package store

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
)

var admin = Event{Actor: "root", Role: string(domain.RoleAdmin), RequestID: "req-seed"}

// fixture is a small plant: one vendor with a key and a product, a site with a cell zone
// (SL-T 2) and a safety zone (SL-T 3), three PLCs, a submitted patch and a campaign.
type fixture struct {
	vendor   Vendor
	key      VendorKey
	priv     ed25519.PrivateKey
	site     Site
	cell     Zone
	sis      Zone
	product  Product
	plc1     Asset
	plc2     Asset
	sisPLC   Asset
	patch    Patch
	manifest []byte
	campaign Campaign
	events   int64 // audit events the fixture wrote
}

func check(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func seed(t *testing.T, st *Store) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.vendor = Vendor{Name: "siemens", DisplayName: "Siemens AG"}
	check(t, "CreateVendor", st.CreateVendor(ctx, &f.vendor, admin))

	pub, priv, err := signing.GenerateKey()
	check(t, "GenerateKey", err)
	f.priv = priv
	f.key = VendorKey{VendorID: f.vendor.ID, PublicKey: signing.EncodePublic(pub), Fingerprint: signing.Fingerprint(pub),
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	check(t, "AddVendorKey", st.AddVendorKey(ctx, &f.key, admin))

	f.site = Site{Name: "Basel Works"}
	check(t, "CreateSite", st.CreateSite(ctx, &f.site, admin))
	f.cell = Zone{SiteID: f.site.ID, Name: "Cell 3", SLT: 2, Window: domain.Window{Cron: "0 2 * * 6", Duration: domain.Duration(4 * time.Hour),
		TimeZone: "Europe/Zurich", MaxParallel: 2, Blackouts: []domain.Blackout{{
			From: time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Reason: "year-end shutdown"}}}}
	check(t, "CreateZone cell", st.CreateZone(ctx, &f.cell, admin))
	f.sis = Zone{SiteID: f.site.ID, Name: "SIS", SLT: 3, Window: domain.Window{Cron: "30 1 * * 0", Duration: domain.Duration(2 * time.Hour),
		TimeZone: "Europe/Zurich", MaxParallel: 1}}
	check(t, "CreateZone sis", st.CreateZone(ctx, &f.sis, admin))

	f.product = Product{VendorID: f.vendor.ID, Name: "simatic-s7-1500", Kind: "plc"}
	check(t, "CreateProduct", st.CreateProduct(ctx, &f.product, admin))
	f.plc1 = Asset{ZoneID: f.cell.ID, ProductID: f.product.ID, Name: "PLC-301", InstalledVersion: "V3.0 Update 2", Criticality: 2, Adapter: "simulator", RedundancyGroup: "cell3"}
	f.plc2 = Asset{ZoneID: f.cell.ID, ProductID: f.product.ID, Name: "PLC-302", InstalledVersion: "V2.9.4", Criticality: 2, Adapter: "simulator", RedundancyGroup: "cell3"}
	f.sisPLC = Asset{ZoneID: f.sis.ID, ProductID: f.product.ID, Name: "SIS-101", InstalledVersion: "V3.0 Update 2", Criticality: 4, SafetyCritical: true, Adapter: "simulator"}
	for _, a := range []*Asset{&f.plc1, &f.plc2, &f.sisPLC} {
		check(t, "CreateAsset "+a.Name, st.CreateAsset(ctx, a, admin))
	}

	m := domain.Manifest{Schema: domain.ManifestSchemaVersion, Vendor: "siemens", Product: "simatic-s7-1500", PatchID: "SSA-712929",
		Version: "V3.1.4", Title: "S7-1500 firmware V3.1.4", ReleaseDate: "2024-05-14", AffectedVersions: []string{"< V3.1.4"},
		FixedVersion: "V3.1.4", CVEs: []domain.CVE{{ID: "CVE-2024-38867", CVSS: 9.8}},
		Artifacts: []domain.ArtifactRef{{Name: "fw.upd", Size: 20 << 20, SHA256: strings.Repeat("4f", 32)}, {Name: "notes.pdf", Size: 1000, SHA256: strings.Repeat("e3", 32)}}}
	f.manifest, err = json.Marshal(m)
	check(t, "marshal manifest", err)
	f.patch = Patch{ID: NewID("pat"), VendorID: f.vendor.ID, ProductID: f.product.ID, PatchRef: m.PatchID, Version: m.Version, Title: m.Title,
		Status: string(domain.PatchSubmitted), Manifest: string(f.manifest), ManifestSHA256: strings.Repeat("aa", 32),
		Signature: signing.Sign(priv, f.manifest), KeyFingerprint: f.key.Fingerprint, SubmittedBy: "siemens-ci"}
	arts := []PatchArtifact{
		{Name: "notes.pdf", ObjectKey: "patches/" + f.patch.ID + "/notes.pdf", Size: 1000, SHA256: strings.Repeat("e3", 32), MediaType: "application/pdf"},
		{Name: "fw.upd", ObjectKey: "patches/" + f.patch.ID + "/fw.upd", Size: 20 << 20, SHA256: strings.Repeat("4f", 32)},
	}
	check(t, "CreatePatch", st.CreatePatch(ctx, &f.patch, arts, Event{Actor: "siemens-ci", Role: "vendor"}))

	f.campaign = Campaign{ID: NewID("cmp"), Name: "S7 firmware June", PatchID: f.patch.ID, Status: string(domain.CampaignDraft),
		CreatedBy: "ed.eng", Plan: `{"targets":[]}`, PlanDigest: strings.Repeat("d1", 32), WorkflowID: "campaign-x"}
	targets := []CampaignAsset{
		{AssetID: f.sisPLC.ID, Wave: 2, State: string(domain.AssetPending), FromVersion: "V3.0 Update 2", ToVersion: "V3.1.4"},
		{AssetID: f.plc2.ID, Wave: 1, State: string(domain.AssetPending), FromVersion: "V2.9.4", ToVersion: "V3.1.4"},
		{AssetID: f.plc1.ID, Wave: 1, State: string(domain.AssetPending), TestBench: true, FromVersion: "V3.0 Update 2", ToVersion: "V3.1.4"},
	}
	check(t, "CreateCampaign", st.CreateCampaign(ctx, &f.campaign, targets, Event{Actor: "ed.eng", Role: "engineer"}))
	f.events = 11
	return f
}

func lastEvent(t *testing.T, st *Store) audit.Event {
	t.Helper()
	var e audit.Event
	if err := st.DB().Table("audit_events").Order("seq DESC").Take(&e).Error; err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRecordsRoundTrip(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		f := seed(t, st)
		// The holders of the tokens below; each person writes user.created and role.granted.
		siemensCI := person(t, st, "siemens-ci", domain.RoleVendor, f.vendor.ID)
		ed := person(t, st, "ed.eng", domain.RoleEngineer, "")
		events := f.events + 2*2
		// wrote checks that the last call appended exactly one event about subject.
		wrote := func(t *testing.T, subjectType, subjectID string) {
			t.Helper()
			events++
			if n := auditCount(t, st); n != events {
				t.Fatalf("%d audit events, want %d", n, events)
			}
			if e := lastEvent(t, st); e.SubjectType != subjectType || e.SubjectID != subjectID {
				t.Fatalf("last event is about %s %s, want %s %s", e.SubjectType, e.SubjectID, subjectType, subjectID)
			}
		}
		wroteNothing := func(t *testing.T) {
			t.Helper()
			if n := auditCount(t, st); n != events {
				t.Fatalf("%d audit events, want %d: a failed change wrote an event", n, events)
			}
		}

		t.Run("vendors", func(t *testing.T) {
			if !strings.HasPrefix(f.vendor.ID, "vnd_") {
				t.Errorf("vendor ID %q, want a vnd_ prefix", f.vendor.ID)
			}
			v, err := st.Vendor(ctx, f.vendor.ID)
			if err != nil || v.Name != "siemens" || v.DisplayName != "Siemens AG" || !v.CreatedAt.Equal(f.vendor.CreatedAt) {
				t.Fatalf("Vendor = %+v, %v; want %+v", v, err, f.vendor)
			}
			abb := Vendor{Name: "abb", DisplayName: "ABB"}
			check(t, "CreateVendor abb", st.CreateVendor(ctx, &abb, admin))
			wrote(t, "vendor", abb.ID)
			vs, err := st.Vendors(ctx)
			if err != nil || len(vs) != 2 || vs[0].Name != "abb" || vs[1].Name != "siemens" {
				t.Fatalf("Vendors = %+v, %v; want abb, siemens", vs, err)
			}
			if v, err := st.VendorByName(ctx, "abb"); err != nil || v.ID != abb.ID {
				t.Fatalf("VendorByName(abb) = %+v, %v", v, err)
			}
			if _, err := st.Vendor(ctx, "vnd_missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Vendor(missing) = %v, want ErrNotFound", err)
			}
			if _, err := st.VendorByName(ctx, "rockwell"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("VendorByName(missing) = %v, want ErrNotFound", err)
			}
		})

		t.Run("keys to TrustedKeys", func(t *testing.T) {
			keys, err := st.VendorKeys(ctx, f.vendor.ID)
			if err != nil || len(keys) != 1 || keys[0].Fingerprint != f.key.Fingerprint {
				t.Fatalf("VendorKeys = %+v, %v", keys, err)
			}
			revokedAt := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
			pub2, priv2, _ := signing.GenerateKey()
			old := VendorKey{VendorID: f.vendor.ID, PublicKey: signing.EncodePublic(pub2), Fingerprint: signing.Fingerprint(pub2),
				NotBefore: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), RevokedAt: &revokedAt}
			check(t, "AddVendorKey revoked", st.AddVendorKey(ctx, &old, admin))
			wrote(t, "vendor_key", old.ID)

			tk, err := st.TrustedKeys(ctx, f.vendor.ID)
			if err != nil || len(tk) != 2 {
				t.Fatalf("TrustedKeys = %+v, %v; want 2 keys", tk, err)
			}
			if tk[0].Fingerprint != f.key.Fingerprint || !tk[0].NotBefore.Equal(f.key.NotBefore) || !tk[0].NotAfter.Equal(f.key.NotAfter) || tk[0].RevokedAt != nil {
				t.Errorf("TrustedKeys[0] = %+v, want %+v", tk[0], f.key)
			}
			if tk[1].RevokedAt == nil || !tk[1].RevokedAt.Equal(revokedAt) {
				t.Errorf("TrustedKeys[1].RevokedAt = %v, want %v", tk[1].RevokedAt, revokedAt)
			}
			// What qualification does with them.
			at := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
			fp, err := signing.VerifyTrusted(tk, f.manifest, f.patch.Signature, at)
			if err != nil || fp != f.key.Fingerprint {
				t.Errorf("VerifyTrusted with the stored key = %s, %v", fp, err)
			}
			if _, err := signing.VerifyTrusted(tk, f.manifest, signing.Sign(priv2, f.manifest), at); err == nil || !strings.Contains(err.Error(), "revoked") {
				t.Errorf("VerifyTrusted with the stored revoked key = %v, want a revocation error", err)
			}
			if other, err := st.TrustedKeys(ctx, "vnd_other"); err != nil || len(other) != 0 {
				t.Errorf("TrustedKeys of another vendor = %+v, %v; want none", other, err)
			}
		})

		t.Run("tokens to Authenticate", func(t *testing.T) {
			const vendorSecret, engSecret = "otp_vendor_secret_0123456789", "otp_engineer_secret_0123456789"
			vt, err := st.CreateToken(ctx, TokenSpec{UserID: siemensCI, Name: "ci", Role: domain.RoleVendor, Secret: vendorSecret}, admin)
			check(t, "CreateToken vendor", err)
			wrote(t, "token", vt.ID)
			if vt.VendorID == nil || *vt.VendorID != f.vendor.ID {
				t.Errorf("vendor token's vendor = %v, want its user's %s", vt.VendorID, f.vendor.ID)
			}
			et, err := st.CreateToken(ctx, TokenSpec{UserID: ed, Name: "ci", Role: domain.RoleEngineer, Secret: engSecret}, admin)
			check(t, "CreateToken engineer", err)
			wrote(t, "token", et.ID)

			tests := []struct {
				name    string
				secret  string
				want    domain.Actor
				wantErr error
			}{
				{"vendor token", vendorSecret, domain.Actor{Name: "siemens-ci", Role: domain.RoleVendor, VendorID: f.vendor.ID, UserID: siemensCI}, nil},
				{"engineer token", engSecret, domain.Actor{Name: "ed.eng", Role: domain.RoleEngineer, UserID: ed}, nil},
				{"unknown token", "otp_guess", domain.Actor{}, ErrNotFound},
				{"empty token", "", domain.Actor{}, ErrNotFound},
				{"the stored hash is not a token", HashToken(engSecret), domain.Actor{}, ErrNotFound},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					a, err := st.Authenticate(ctx, tt.secret)
					if !errors.Is(err, tt.wantErr) || a != tt.want {
						t.Fatalf("Authenticate = %+v, %v; want %+v, %v", a, err, tt.want, tt.wantErr)
					}
				})
			}

			var stored int64
			st.DB().Table("tokens").Where("token_hash = ? OR name = ?", vendorSecret, vendorSecret).Count(&stored)
			if stored != 0 {
				t.Error("the token secret is stored in clear")
			}
			check(t, "revoke", st.DB().Exec(`UPDATE tokens SET revoked_at = ? WHERE id = ?`, st.Now(), et.ID).Error)
			if _, err := st.Authenticate(ctx, engSecret); !errors.Is(err, ErrNotFound) {
				t.Errorf("Authenticate(revoked) = %v, want ErrNotFound", err)
			}
		})

		t.Run("zones with window JSON", func(t *testing.T) {
			z, err := st.Zone(ctx, f.cell.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(z.Window, f.cell.Window) || z.SLT != 2 || z.SiteID != f.site.ID || z.Name != "Cell 3" {
				t.Fatalf("Zone = %+v, want window %+v", z, f.cell.Window)
			}
			zs, err := st.Zones(ctx)
			if err != nil || len(zs) != 2 || zs[0].ID != f.cell.ID || zs[1].Window.Cron != "30 1 * * 0" || zs[1].SLT != 3 {
				t.Fatalf("Zones = %+v, %v", zs, err)
			}
			w := f.sis.Window
			w.Cron, w.Duration = "0 3 * * 0", domain.Duration(90*time.Minute)
			check(t, "SetZoneWindow", st.SetZoneWindow(ctx, f.sis.ID, w, Event{Actor: "ed.eng", Role: "engineer", Action: "zone.window_set"}))
			wrote(t, "zone", f.sis.ID)
			if z, _ := st.Zone(ctx, f.sis.ID); !reflect.DeepEqual(z.Window, w) {
				t.Fatalf("window after SetZoneWindow = %+v, want %+v", z.Window, w)
			}
			if err := st.SetZoneWindow(ctx, "zone_missing", w, admin); !errors.Is(err, ErrNotFound) {
				t.Fatalf("SetZoneWindow(missing) = %v, want ErrNotFound", err)
			}
			wroteNothing(t)
			if _, err := st.Zone(ctx, "zone_missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Zone(missing) = %v, want ErrNotFound", err)
			}
			other := Site{Name: "Visp"}
			check(t, "CreateSite", st.CreateSite(ctx, &other, admin))
			wrote(t, "site", other.ID)
			same := Zone{SiteID: other.ID, Name: "Cell 3", SLT: 1, Window: f.sis.Window}
			check(t, "a zone named like one of another site", st.CreateZone(ctx, &same, admin))
			wrote(t, "zone", same.ID)
			if sites, err := st.Sites(ctx); err != nil || len(sites) != 2 || sites[0].Name != "Basel Works" {
				t.Fatalf("Sites = %+v, %v", sites, err)
			}
		})

		t.Run("products", func(t *testing.T) {
			p, err := st.ProductByName(ctx, f.vendor.ID, "simatic-s7-1500")
			if err != nil || p != f.product {
				t.Fatalf("ProductByName = %+v, %v; want %+v", p, err, f.product)
			}
			if _, err := st.ProductByName(ctx, f.vendor.ID, "simatic-s7-300"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("ProductByName(missing) = %v, want ErrNotFound", err)
			}
			if ps, err := st.Products(ctx, f.vendor.ID); err != nil || len(ps) != 1 {
				t.Fatalf("Products(siemens) = %+v, %v", ps, err)
			}
			if ps, err := st.Products(ctx, "vnd_other"); err != nil || len(ps) != 0 {
				t.Fatalf("Products(other vendor) = %+v, %v; want none", ps, err)
			}
		})

		t.Run("assets filter", func(t *testing.T) {
			names := func(as []Asset) []string {
				var out []string
				for _, a := range as {
					out = append(out, a.Name)
				}
				return out
			}
			tests := []struct {
				name string
				f    AssetFilter
				want []string
			}{
				{"all, by name", AssetFilter{}, []string{"PLC-301", "PLC-302", "SIS-101"}},
				{"zone", AssetFilter{ZoneID: f.sis.ID}, []string{"SIS-101"}},
				{"product", AssetFilter{ProductID: f.product.ID}, []string{"PLC-301", "PLC-302", "SIS-101"}},
				{"ids", AssetFilter{IDs: []string{f.sisPLC.ID, f.plc2.ID}}, []string{"PLC-302", "SIS-101"}},
				{"zone and ids", AssetFilter{ZoneID: f.cell.ID, IDs: []string{f.sisPLC.ID, f.plc2.ID}}, []string{"PLC-302"}},
				{"an empty id list selects nothing", AssetFilter{IDs: []string{}}, nil},
				{"unknown zone", AssetFilter{ZoneID: "zone_missing"}, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					as, err := st.Assets(ctx, tt.f)
					if err != nil || !slices.Equal(names(as), tt.want) {
						t.Fatalf("Assets(%+v) = %v, %v; want %v", tt.f, names(as), err, tt.want)
					}
				})
			}
			a, err := st.Asset(ctx, f.sisPLC.ID)
			if err != nil || !a.SafetyCritical || a.Criticality != 4 || a.InstalledVersion != "V3.0 Update 2" || a.RedundancyGroup != "" {
				t.Fatalf("Asset = %+v, %v", a, err)
			}
			check(t, "SetInstalledVersion", st.SetInstalledVersion(ctx, f.plc2.ID, "V3.1.4", Event{Actor: "otpatch", Role: "system", Action: "asset.version"}))
			wrote(t, "asset", f.plc2.ID)
			if a, _ := st.Asset(ctx, f.plc2.ID); a.InstalledVersion != "V3.1.4" {
				t.Fatalf("installed version after SetInstalledVersion = %q", a.InstalledVersion)
			}
			if _, err := st.Asset(ctx, "ast_missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Asset(missing) = %v, want ErrNotFound", err)
			}
		})

		t.Run("patches and artifacts", func(t *testing.T) {
			p, err := st.Patch(ctx, f.patch.ID)
			if err != nil || p.Manifest != string(f.manifest) || p.Signature != f.patch.Signature || p.Status != "submitted" || p.KeyFingerprint != f.key.Fingerprint {
				t.Fatalf("Patch = %+v, %v", p, err)
			}
			m, err := ManifestOf(p)
			if err != nil || m.FixedVersion != "V3.1.4" {
				t.Fatalf("ManifestOf = %+v, %v", m, err)
			}
			arts, err := st.PatchArtifacts(ctx, f.patch.ID)
			if err != nil || len(arts) != 2 || arts[0].Name != "fw.upd" || arts[0].Size != 20<<20 || arts[1].MediaType != "application/pdf" || arts[0].ObjectKey != "patches/"+f.patch.ID+"/fw.upd" {
				t.Fatalf("PatchArtifacts = %+v, %v", arts, err)
			}
			if ok, err := st.PatchExists(ctx, f.vendor.ID, "SSA-712929", "V3.1.4"); err != nil || !ok {
				t.Fatalf("PatchExists(submitted) = %v, %v", ok, err)
			}
			if ok, err := st.PatchExists(ctx, f.vendor.ID, "SSA-712929", "V3.1.5"); err != nil || ok {
				t.Fatalf("PatchExists(other version) = %v, %v", ok, err)
			}
			if ps, err := st.Patches(ctx, f.vendor.ID); err != nil || len(ps) != 1 {
				t.Fatalf("Patches(siemens) = %d, %v", len(ps), err)
			}
			if ps, err := st.Patches(ctx, "vnd_other"); err != nil || len(ps) != 0 {
				t.Fatalf("Patches(other vendor) = %d, %v; want none (a vendor sees only its own)", len(ps), err)
			}
			check(t, "SetPatchStatus", st.SetPatchStatus(ctx, f.patch.ID, domain.PatchRejected, []string{"no test bench"}, nil, Event{Actor: "otpatch", Role: "system", Action: "patch.rejected"}))
			wrote(t, "patch", f.patch.ID)
			if p, _ := st.Patch(ctx, f.patch.ID); p.Status != "rejected" || p.Reasons != `["no test bench"]` || p.Applicable != "[]" {
				t.Fatalf("patch after SetPatchStatus = %s %s %s", p.Status, p.Reasons, p.Applicable)
			}
			if _, err := st.Patch(ctx, "pat_missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Patch(missing) = %v, want ErrNotFound", err)
			}
		})

		t.Run("campaigns and targets", func(t *testing.T) {
			c, err := st.Campaign(ctx, f.campaign.ID)
			if err != nil || c.PlanDigest != f.campaign.PlanDigest || c.CreatedBy != "ed.eng" || c.NextWindowStart != nil {
				t.Fatalf("Campaign = %+v, %v", c, err)
			}
			targets, err := st.CampaignAssets(ctx, f.campaign.ID)
			if err != nil || len(targets) != 3 {
				t.Fatalf("CampaignAssets = %+v, %v", targets, err)
			}
			wave1 := []string{f.plc1.ID, f.plc2.ID}
			slices.Sort(wave1)
			if targets[0].Wave != 1 || targets[1].Wave != 1 || targets[2].Wave != 2 || targets[0].AssetID != wave1[0] || targets[2].AssetID != f.sisPLC.ID {
				t.Fatalf("CampaignAssets not ordered by wave then asset: %+v", targets)
			}

			check(t, "SetCampaignStatus", st.SetCampaignStatus(ctx, c.ID, domain.CampaignScheduled, "waiting for window", Event{Actor: "otpatch", Role: "system", Action: "campaign.scheduled"}))
			wrote(t, "campaign", c.ID)
			occ := domain.Occurrence{Start: time.Date(2025, 6, 14, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 14, 4, 0, 0, 0, time.UTC)}
			check(t, "SetNextWindow", st.SetNextWindow(ctx, c.ID, &occ))
			c, _ = st.Campaign(ctx, c.ID)
			if c.Status != "scheduled" || c.Detail != "waiting for window" || c.NextWindowStart == nil || !c.NextWindowStart.Equal(occ.Start) || !c.NextWindowEnd.Equal(occ.End) {
				t.Fatalf("campaign after status and window = %+v", c)
			}
			check(t, "SetNextWindow(nil)", st.SetNextWindow(ctx, c.ID, nil))
			if c, _ = st.Campaign(ctx, c.ID); c.NextWindowStart != nil || c.NextWindowEnd != nil {
				t.Fatalf("window after SetNextWindow(nil) = %v–%v, want none", c.NextWindowStart, c.NextWindowEnd)
			}

			fields := AssetChange{State: domain.AssetBackedUp, Backup: &BackupRef{Key: "backups/x", SHA256: strings.Repeat("b", 64), Size: 4096}}
			check(t, "UpdateCampaignAsset", st.UpdateCampaignAsset(ctx, c.ID, f.plc1.ID, fields, Event{Actor: "otpatch", Role: "system", Action: "asset.backed_up"}))
			wrote(t, "asset", f.plc1.ID)
			targets, _ = st.CampaignAssets(ctx, c.ID)
			i := slices.IndexFunc(targets, func(ca CampaignAsset) bool { return ca.AssetID == f.plc1.ID })
			if got := targets[i]; got.State != "backed_up" || got.BackupKey != "backups/x" || got.BackupSize != 4096 || !got.TestBench {
				t.Fatalf("target after UpdateCampaignAsset = %+v", got)
			}
			for _, missing := range []struct{ campaign, asset string }{{c.ID, "ast_missing"}, {"cmp_missing", f.plc1.ID}} {
				err := st.UpdateCampaignAsset(ctx, missing.campaign, missing.asset, AssetChange{State: domain.AssetDone}, Event{Actor: "otpatch", Role: "system", Action: "asset.done"})
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("UpdateCampaignAsset(%s, %s) = %v, want ErrNotFound", missing.campaign, missing.asset, err)
				}
				wroteNothing(t)
			}

			later := Campaign{ID: NewID("cmp"), Name: "later", PatchID: f.patch.ID, Status: "draft", CreatedBy: "ed.eng", Plan: "{}", PlanDigest: "d2", WorkflowID: "campaign-y"}
			check(t, "CreateCampaign", st.CreateCampaign(ctx, &later, []CampaignAsset{{AssetID: f.plc1.ID, Wave: 1, State: "pending"}}, Event{Actor: "ed.eng", Role: "engineer"}))
			wrote(t, "campaign", later.ID)
			if cs, err := st.CampaignsPage(ctx, CampaignFilter{}); err != nil || len(cs) != 2 || cs[0].ID != later.ID {
				t.Fatalf("CampaignsPage = %+v, %v; want the newest first", cs, err)
			}
			if _, err := st.Campaign(ctx, "cmp_missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Campaign(missing) = %v, want ErrNotFound", err)
			}
		})

		t.Run("approvals idempotent by ID", func(t *testing.T) {
			at := time.Date(2025, 6, 11, 9, 0, 0, 0, time.UTC)
			a := ApprovalRecord{ID: "apr_update-1", CampaignID: f.campaign.ID, Actor: "omar.ops", Role: "approver", Decision: "approved", PlanDigest: f.campaign.PlanDigest, At: at}
			ev := Event{Actor: "omar.ops", Role: "approver", Action: "campaign.approved"}
			first := a
			check(t, "AddApproval", st.AddApproval(ctx, &first, ev))
			wrote(t, "campaign", f.campaign.ID)
			retry := a
			check(t, "AddApproval retried", st.AddApproval(ctx, &retry, ev))
			wroteNothing(t)
			second := ApprovalRecord{CampaignID: f.campaign.ID, Actor: "sofia.safety", Role: "safety", Decision: "approved", PlanDigest: f.campaign.PlanDigest, At: at.Add(time.Hour)}
			check(t, "AddApproval second", st.AddApproval(ctx, &second, Event{Actor: "sofia.safety", Role: "safety", Action: "campaign.approved"}))
			wrote(t, "campaign", f.campaign.ID)
			if !strings.HasPrefix(second.ID, "apr_") {
				t.Errorf("generated approval ID %q, want an apr_ prefix", second.ID)
			}
			got, err := st.Approvals(ctx, f.campaign.ID)
			if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].Actor != "sofia.safety" || !got[0].At.Equal(at) {
				t.Fatalf("Approvals = %+v, %v; want omar's then sofia's, once each", got, err)
			}
		})

		t.Run("duplicate names are conflicts", func(t *testing.T) {
			pub, _, _ := signing.GenerateKey()
			tests := []struct {
				name   string
				create func() error
			}{
				{"vendor name", func() error { return st.CreateVendor(ctx, &Vendor{Name: "siemens", DisplayName: "again"}, admin) }},
				{"vendor key fingerprint", func() error {
					k := f.key
					k.ID = ""
					return st.AddVendorKey(ctx, &k, admin)
				}},
				{"token secret", func() error {
					_, err := st.CreateToken(ctx, TokenSpec{UserID: ed, Name: "copy", Role: domain.RoleEngineer, Secret: "otp_vendor_secret_0123456789"}, admin)
					return err
				}},
				{"site name", func() error { return st.CreateSite(ctx, &Site{Name: "Basel Works"}, admin) }},
				{"zone name in the same site", func() error {
					return st.CreateZone(ctx, &Zone{SiteID: f.site.ID, Name: "Cell 3", SLT: 1, Window: f.sis.Window}, admin)
				}},
				{"product of the same vendor", func() error {
					return st.CreateProduct(ctx, &Product{VendorID: f.vendor.ID, Name: "simatic-s7-1500", Kind: "plc"}, admin)
				}},
				{"asset name", func() error {
					return st.CreateAsset(ctx, &Asset{ZoneID: f.sis.ID, ProductID: f.product.ID, Name: "PLC-301", InstalledVersion: "1", Criticality: 1, Adapter: "simulator"}, admin)
				}},
				{"patch version of the same vendor", func() error {
					p := f.patch
					p.ID = NewID("pat")
					return st.CreatePatch(ctx, &p, []PatchArtifact{{Name: "fw.upd", ObjectKey: "k", Size: 1, SHA256: "x"}}, admin)
				}},
				{"key of another vendor with the same fingerprint", func() error {
					k := VendorKey{VendorID: f.vendor.ID, PublicKey: signing.EncodePublic(pub), Fingerprint: f.key.Fingerprint, NotBefore: f.key.NotBefore, NotAfter: f.key.NotAfter}
					return st.AddVendorKey(ctx, &k, admin)
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err := tt.create()
					if !errors.Is(err, ErrConflict) {
						t.Fatalf("second create = %v, want ErrConflict", err)
					}
					wroteNothing(t)
				})
			}
			var orphans int64
			st.DB().Table("patch_artifacts").Where("patch_id <> ?", f.patch.ID).Count(&orphans)
			if orphans != 0 {
				t.Errorf("%d artifacts of the refused patch were stored", orphans)
			}
		})

		res, err := st.VerifyAudit(ctx)
		if err != nil || !res.OK || res.Events != events {
			t.Fatalf("VerifyAudit after the round trips = %+v, %v; want OK with %d events", res, err, events)
		}
	})
}
