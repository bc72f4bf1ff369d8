// Package demo seeds a demonstration plant: two sites, zones with different target security
// levels and maintenance windows, simulated assets of three vendors' products, a test bench
// mirroring the products, two vendors with trusted signing keys, and one token per role.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/passwords"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// TokensFile is the file in the data folder that holds the demo tokens.
const TokensFile = "demo-tokens.json"

// TokensEnvFile holds the same tokens as shell variables (OTPATCH_ENGINEER_TOKEN=…).
const TokensEnvFile = "demo-tokens.env"

// TokenLifetime is how long the demo's tokens last: a year, the longest a server allows a
// token by default. A fresh data folder gives new ones.
const TokenLifetime = 365 * 24 * time.Hour

// Tokens are the demo users' bearer tokens by role; Vendor2 belongs to the second vendor and
// Admin2 to the second admin, who confirms what the first asks (two-person rule). Password is
// every demo user's password for the web UI's sign-in; Users names them.
type Tokens struct {
	Vendor   string `json:"vendor"`
	Vendor2  string `json:"vendor2"`
	Engineer string `json:"engineer"`
	Approver string `json:"approver"`
	Safety   string `json:"safety"`
	Auditor  string `json:"auditor"`
	Admin    string `json:"admin"`
	Admin2   string `json:"admin2"`
	Password string `json:"password"`
	// Users maps each demo username to its role.
	Users map[string]domain.Role `json:"users"`
}

type zoneSpec struct {
	id, site, name string
	slt            int
	bench          bool
	window         domain.Window
}

type productSpec struct {
	id, vendor, name, kind, version string
}

// Seeded reports whether the database already holds the demo plant.
func Seeded(ctx context.Context, st *store.Store) (bool, error) {
	_, err := st.VendorByName(ctx, "acme")
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func win(cron string, d time.Duration, tz string, parallel int) domain.Window {
	return domain.Window{Cron: cron, Duration: domain.Duration(d), TimeZone: tz, MaxParallel: parallel}
}

// Seed creates the demo plant in st and sim, writes the vendors' private keys to
// DIR/demo-keys/ and the tokens to DIR/demo-tokens.json, and returns the tokens.
func Seed(ctx context.Context, st *store.Store, sim *simulator.Simulator, dir string) (Tokens, error) {
	ev := func(action string) store.Event {
		return store.Event{Actor: "demo-seed", Role: "system", Action: action}
	}
	vendors := []store.Vendor{
		{ID: "vnd_acme", Name: "acme", DisplayName: "Acme Automation AG"},
		{ID: "vnd_northwind", Name: "northwind", DisplayName: "Northwind Control Systems"},
		{ID: "vnd_helix", Name: "helix", DisplayName: "Helix Industrial Networks"},
	}
	for i := range vendors {
		if err := st.CreateVendor(ctx, &vendors[i], ev("vendor.created")); err != nil {
			return Tokens{}, err
		}
	}
	keyDir := filepath.Join(dir, "demo-keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return Tokens{}, err
	}
	for _, v := range vendors[:2] {
		pub, priv, err := signing.GenerateKey()
		if err != nil {
			return Tokens{}, err
		}
		pemKey, err := signing.MarshalPrivate(priv)
		if err != nil {
			return Tokens{}, err
		}
		if err := os.WriteFile(filepath.Join(keyDir, v.Name+".key"), pemKey, 0o600); err != nil {
			return Tokens{}, err
		}
		k := store.VendorKey{VendorID: v.ID, PublicKey: signing.EncodePublic(pub), Fingerprint: signing.Fingerprint(pub),
			NotBefore: st.Now().Add(-time.Hour), NotAfter: st.Now().AddDate(2, 0, 0)}
		e := ev("vendor_key.trusted")
		e.Details = map[string]any{"vendor": v.Name, "fingerprint": k.Fingerprint}
		if err := st.AddVendorKey(ctx, &k, e); err != nil {
			return Tokens{}, err
		}
	}

	sites := []store.Site{{ID: "site_basel", Name: "Basel Works"}, {ID: "site_rotterdam", Name: "Rotterdam Terminal"}}
	for i := range sites {
		if err := st.CreateSite(ctx, &sites[i], ev("site.created")); err != nil {
			return Tokens{}, err
		}
	}
	zones := []zoneSpec{
		{"zone_bench", "site_basel", "Test Bench", 1, true, win("* * * * *", time.Hour, "Europe/Zurich", 8)},
		{"zone_packaging", "site_basel", "Packaging Line 2", 2, false, win("*/2 * * * *", 100*time.Second, "Europe/Zurich", 2)},
		{"zone_process", "site_basel", "Process Control", 3, false, win("0 2 * * 0", 4*time.Hour, "Europe/Zurich", 2)},
		{"zone_dmz", "site_rotterdam", "Terminal DMZ", 2, false, win("*/5 * * * *", 4*time.Minute, "Europe/Amsterdam", 3)},
		{"zone_safety", "site_rotterdam", "Safety Systems", 4, false, win("0 3 1 * *", 6*time.Hour, "Europe/Amsterdam", 1)},
	}
	for _, z := range zones {
		zone := store.Zone{ID: z.id, SiteID: z.site, Name: z.name, SLT: z.slt, TestBench: z.bench, Window: z.window}
		if err := st.CreateZone(ctx, &zone, ev("zone.created")); err != nil {
			return Tokens{}, err
		}
	}
	products := []productSpec{
		{"prd_acme_plc", "vnd_acme", "ControlStation-PLC", "plc", "V2.9.3"},
		{"prd_acme_hmi", "vnd_acme", "ViewPanel-HMI", "hmi", "V16.0.1"},
		{"prd_nw_historian", "vnd_northwind", "DataVault-Historian", "historian", "4.7 SP1"},
		{"prd_nw_ews", "vnd_northwind", "EngStudio-EWS", "engineering_workstation", "R20.1 build 118"},
		{"prd_helix_switch", "vnd_helix", "Helix-Switch", "network_device", "V5.4.1"},
	}
	for _, p := range products {
		prod := store.Product{ID: p.id, VendorID: p.vendor, Name: p.name, Kind: p.kind}
		if err := st.CreateProduct(ctx, &prod, ev("product.created")); err != nil {
			return Tokens{}, err
		}
	}
	type placement struct {
		zone, prefix string
		product      int
		count, crit  int
		safety       bool
		redundant    bool
	}
	placements := []placement{
		{"zone_packaging", "pkg-hmi", 1, 4, 2, false, false},
		{"zone_packaging", "pkg-plc", 0, 4, 3, false, true},
		{"zone_packaging", "pkg-switch", 4, 2, 2, false, false},
		{"zone_process", "proc-plc", 0, 6, 4, false, true},
		{"zone_process", "proc-hmi", 1, 3, 3, false, false},
		{"zone_process", "proc-ews", 3, 2, 3, false, false},
		{"zone_process", "proc-switch", 4, 2, 3, false, false},
		{"zone_dmz", "dmz-historian", 2, 2, 2, false, true},
		{"zone_dmz", "dmz-ews", 3, 2, 2, false, false},
		{"zone_dmz", "dmz-switch", 4, 3, 2, false, false},
		{"zone_safety", "sis-plc", 0, 4, 5, true, true},
		{"zone_safety", "sis-hmi", 1, 2, 5, true, false},
	}
	for i := range products {
		placements = append(placements, placement{"zone_bench", "bench-" + products[i].kind, i, 1, 1, false, false})
	}
	for _, p := range placements {
		prod := products[p.product]
		for n := 1; n <= p.count; n++ {
			name := fmt.Sprintf("%s-%02d", p.prefix, n)
			group := ""
			if p.redundant {
				group = fmt.Sprintf("%s-pair-%d", p.prefix, (n+1)/2)
			}
			as := store.Asset{ID: "ast_" + name, ZoneID: p.zone, ProductID: prod.id, Name: name, InstalledVersion: prod.version,
				Criticality: p.crit, SafetyCritical: p.safety, RedundancyGroup: group, Adapter: "simulator"}
			if err := st.CreateAsset(ctx, &as, ev("asset.created")); err != nil {
				return Tokens{}, err
			}
			cfg, _ := json.Marshal(map[string]any{"hostname": name, "product": prod.name})
			if err := sim.Register(ctx, as.ID, as.InstalledVersion, string(cfg)); err != nil {
				return Tokens{}, err
			}
		}
	}

	t := Tokens{Password: passwords.Generate(), Users: map[string]domain.Role{}}
	hash, err := passwords.Hash(t.Password, passwords.Default)
	if err != nil {
		return Tokens{}, err
	}
	for _, spec := range []struct {
		dst      *string
		name     string
		role     domain.Role
		vendorID string
	}{
		{&t.Vendor, "acme-release", domain.RoleVendor, "vnd_acme"},
		{&t.Vendor2, "northwind-release", domain.RoleVendor, "vnd_northwind"},
		{&t.Engineer, "erin-engineer", domain.RoleEngineer, ""},
		{&t.Approver, "otto-operations", domain.RoleApprover, ""},
		{&t.Safety, "sofia-safety", domain.RoleSafety, ""},
		{&t.Auditor, "aude-auditor", domain.RoleAuditor, ""},
		{&t.Admin, "adam-admin", domain.RoleAdmin, ""},
		{&t.Admin2, "ada-admin", domain.RoleAdmin, ""},
	} {
		u, err := st.CreateUser(ctx, store.NewUser{Username: spec.name, VendorID: spec.vendorID, PasswordHash: hash, CreatedBy: "demo"}, ev("user.created"))
		if err != nil {
			return Tokens{}, err
		}
		grant := ev("role.granted")
		grant.Details = map[string]any{"user": spec.name, "role": spec.role, "source": store.GrantByDemo}
		if _, err := st.RequestGrant(ctx, store.GrantRequest{UserID: u.ID, Role: spec.role, By: "demo", Source: store.GrantByDemo, Confirmed: true}, grant); err != nil {
			return Tokens{}, err
		}
		secret := randomToken()
		tok := store.TokenSpec{UserID: u.ID, Name: "demo", Role: spec.role, Secret: secret, ExpiresAt: st.Now().Add(TokenLifetime)}
		if _, err := st.CreateToken(ctx, tok, ev("token.created")); err != nil {
			return Tokens{}, err
		}
		*spec.dst = secret
		t.Users[spec.name] = spec.role
	}
	b, _ := json.MarshalIndent(t, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, TokensFile), append(b, '\n'), 0o600); err != nil {
		return Tokens{}, err
	}
	envFile := fmt.Sprintf("# otpatch demo tokens, for scripts: . %s\n", TokensEnvFile)
	for _, kv := range [][2]string{{"VENDOR", t.Vendor}, {"VENDOR2", t.Vendor2}, {"ENGINEER", t.Engineer}, {"APPROVER", t.Approver},
		{"SAFETY", t.Safety}, {"AUDITOR", t.Auditor}, {"ADMIN", t.Admin}, {"ADMIN2", t.Admin2}} {
		envFile += fmt.Sprintf("OTPATCH_%s_TOKEN=%s\n", kv[0], kv[1])
	}
	envFile += fmt.Sprintf("OTPATCH_DEMO_PASSWORD='%s'\n", t.Password) // the generated password has no quote
	if err := os.WriteFile(filepath.Join(dir, TokensEnvFile), []byte(envFile), 0o600); err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// LoadTokens reads the tokens a previous Seed wrote.
func LoadTokens(dir string) (Tokens, error) {
	var t Tokens
	b, err := os.ReadFile(filepath.Join(dir, TokensFile))
	if err != nil {
		return t, err
	}
	return t, json.Unmarshal(b, &t)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "otp_" + hex.EncodeToString(b)
}
