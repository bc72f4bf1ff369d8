package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

func (s *server) listVendors(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	vs, err := s.Store.Vendors(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if a := actorOf(r); a.Role == domain.RoleVendor {
		mine := []store.Vendor{}
		for _, v := range vs {
			if v.ID == a.VendorID {
				mine = append(mine, v)
			}
		}
		vs = mine
	}
	writeJSON(w, http.StatusOK, vs)
}

type vendorRequest struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
}

func (s *server) createVendor(w http.ResponseWriter, r *http.Request) {
	var in vendorRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "vendor"}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	v.Text("display_name", in.DisplayName, 200)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	vendor := store.Vendor{Name: in.Name, DisplayName: in.DisplayName}
	ev := event(r, "vendor.created")
	ev.Details = in
	if err := s.Store.CreateVendor(r.Context(), &vendor, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, vendor)
}

func validName(n string) bool { return domain.NameFault(n) == "" }

func (s *server) listVendorKeys(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	if _, err := s.Store.Vendor(r.Context(), chi.URLParam(r, "vendorID")); err != nil {
		s.fail(w, r, err) // an unknown vendor is 404, not an empty list
		return
	}
	keys, err := s.Store.VendorKeys(r.Context(), chi.URLParam(r, "vendorID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keys)
}

type keyRequest struct {
	PublicKey string    `json:"public_key"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

func (s *server) addVendorKey(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.Store.Vendor(r.Context(), chi.URLParam(r, "vendorID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in keyRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "vendor key"}
	pub, err := signing.DecodePublic(in.PublicKey)
	if err != nil {
		v.Add("public_key", "%v", err)
	}
	now := s.Store.Now()
	if in.NotBefore.IsZero() {
		in.NotBefore = now
	}
	if in.NotAfter.IsZero() {
		in.NotAfter = now.AddDate(2, 0, 0)
	}
	if !in.NotAfter.After(in.NotBefore) {
		v.Add("not_after", "must be after not_before")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	k := store.VendorKey{VendorID: vendor.ID, PublicKey: signing.EncodePublic(pub), Fingerprint: signing.Fingerprint(pub), NotBefore: in.NotBefore.UTC(), NotAfter: in.NotAfter.UTC()}
	ev := event(r, "vendor_key.trusted")
	ev.Details = map[string]any{"vendor": vendor.Name, "fingerprint": k.Fingerprint, "not_before": k.NotBefore, "not_after": k.NotAfter}
	if err := s.Store.AddVendorKey(r.Context(), &k, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

func (s *server) revokeVendorKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	rv := &domain.ValidationError{What: "revocation"}
	rv.Text("reason", in.Reason, 2000, "say why the key is revoked")
	if err := rv.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "vendor_key.revoked")
	ev.Details = map[string]any{"vendor_id": chi.URLParam(r, "vendorID"), "reason": in.Reason}
	k, err := s.Store.RevokeVendorKey(r.Context(), chi.URLParam(r, "vendorID"), chi.URLParam(r, "keyID"), in.Reason, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (s *server) listProducts(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "vendor_id") {
		return
	}
	vendorID := r.URL.Query().Get("vendor_id")
	if a := actorOf(r); a.Role == domain.RoleVendor {
		vendorID = a.VendorID
	} else if vendorID != "" {
		if _, err := s.Store.Vendor(r.Context(), vendorID); err != nil {
			s.fail(w, r, err) // an unknown vendor is 404, not an empty list
			return
		}
	}
	ps, err := s.Store.Products(r.Context(), vendorID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ps)
}

type productRequest struct {
	VendorID string `json:"vendor_id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
}

var productKinds = map[string]bool{"plc": true, "hmi": true, "historian": true, "engineering_workstation": true, "network_device": true, "gateway": true, "server": true}

func (s *server) createProduct(w http.ResponseWriter, r *http.Request) {
	var in productRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "product"}
	if _, err := s.Store.Vendor(r.Context(), in.VendorID); err != nil {
		v.Add("vendor_id", "no vendor %q", in.VendorID)
	}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	if !productKinds[in.Kind] {
		v.Add("kind", "must be plc, hmi, historian, engineering_workstation, network_device, gateway or server")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	p := store.Product{VendorID: in.VendorID, Name: in.Name, Kind: in.Kind}
	ev := event(r, "product.created")
	ev.Details = in
	if err := s.Store.CreateProduct(r.Context(), &p, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *server) listSites(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	sites, err := s.Store.Sites(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sites)
}

func (s *server) createSite(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	sv := &domain.ValidationError{What: "site"}
	sv.Text("name", in.Name, 200)
	if err := sv.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	site := store.Site{Name: in.Name}
	ev := event(r, "site.created")
	ev.Details = in
	if err := s.Store.CreateSite(r.Context(), &site, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, site)
}

type zoneRequest struct {
	SiteID    string        `json:"site_id"`
	Name      string        `json:"name"`
	SLT       int           `json:"sl_t"`
	TestBench bool          `json:"test_bench"`
	Window    domain.Window `json:"window"`
}

func (s *server) createZone(w http.ResponseWriter, r *http.Request) {
	var in zoneRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "zone"}
	v.Text("name", in.Name, 200)
	if in.SLT < 1 || in.SLT > 4 {
		v.Add("sl_t", "must be an IEC 62443 target security level from 1 to 4, got %d", in.SLT)
	}
	if err := in.Window.ValidateAt(s.Store.Now()); err != nil {
		for _, f := range err.(*domain.ValidationError).Fields {
			v.Add("window."+f.Field, "%s", f.Message)
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	z := store.Zone{SiteID: in.SiteID, Name: in.Name, SLT: in.SLT, TestBench: in.TestBench, Window: in.Window}
	ev := event(r, "zone.created")
	ev.Details = in
	if err := s.Store.CreateZone(r.Context(), &z, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, z)
}

func (s *server) listZones(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	zs, err := s.Store.Zones(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, zs)
}

func (s *server) getZone(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	z, err := s.Store.Zone(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, z)
}

func (s *server) setZoneWindow(w http.ResponseWriter, r *http.Request) {
	z, err := s.Store.Zone(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in domain.Window
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.ValidateAt(s.Store.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "zone.window_changed")
	ev.Details = map[string]any{"from": z.Window, "to": in}
	if err := s.Store.SetZoneWindow(r.Context(), z.ID, in, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	s.windowChanged(r, z.ID, in) // operations.go: re-plan the campaigns waiting on this zone
	// Answer with the zone as stored (its new updated_at), not as it was read before the change.
	if z, err = s.Store.Zone(r.Context(), z.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, z)
}

// zoneWindowsView is a zone with its coming window openings, in the zone's time zone.
type zoneWindowsView struct {
	ZoneID string        `json:"zone_id"`
	Zone   string        `json:"zone"`
	Window domain.Window `json:"window"`
	// Occurrences are the spans the engine uses (overlapping occurrences joined): only the
	// first may have started before now, and then it is open_now.
	Occurrences []domain.Span `json:"occurrences"`
}

func occurrencesView(z store.Zone, now time.Time, n int) zoneWindowsView {
	spans := z.Window.Spans(now, n)
	if loc, err := time.LoadLocation(z.Window.TimeZone); err == nil {
		for i := range spans {
			spans[i].Start, spans[i].End = spans[i].Start.In(loc), spans[i].End.In(loc)
		}
	}
	if spans == nil {
		spans = []domain.Span{}
	}
	return zoneWindowsView{ZoneID: z.ID, Zone: z.Name, Window: z.Window, Occurrences: spans}
}

func nextParam(r *http.Request) (int, error) {
	n := 5
	if q := r.URL.Query().Get("next"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > 100 {
			return 0, &domain.ValidationError{What: "query", Fields: []domain.FieldError{{Field: "next", Message: "must be a number from 1 to 100"}}}
		}
		n = v
	}
	return n, nil
}

func (s *server) zoneWindows(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "next") {
		return
	}
	n, err := nextParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	z, err := s.Store.Zone(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, occurrencesView(z, s.Store.Now(), n))
}

func (s *server) listWindows(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "next") {
		return
	}
	n, err := nextParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	zs, err := s.Store.Zones(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]zoneWindowsView, len(zs))
	for i, z := range zs {
		out[i] = occurrencesView(z, s.Store.Now(), n)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) listAssets(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "zone_id", "product_id") {
		return
	}
	f := store.AssetFilter{ZoneID: r.URL.Query().Get("zone_id"), ProductID: r.URL.Query().Get("product_id")}
	// A filter naming no zone or product is a typo, not an empty answer: 404.
	if f.ZoneID != "" {
		if _, err := s.Store.Zone(r.Context(), f.ZoneID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if f.ProductID != "" {
		if _, err := s.Store.Product(r.Context(), f.ProductID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	as, err := s.Store.Assets(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, as)
}

type assetRequest struct {
	ZoneID           string `json:"zone_id"`
	ProductID        string `json:"product_id"`
	Name             string `json:"name"`
	InstalledVersion string `json:"installed_version"`
	Criticality      int    `json:"criticality"`
	SafetyCritical   bool   `json:"safety_critical"`
	RedundancyGroup  string `json:"redundancy_group"`
	Adapter          string `json:"adapter"`
	// Endpoint is how the ssh and agent adapters reach the device.
	Endpoint *adapters.Endpoint `json:"endpoint,omitempty"`
}

func (s *server) createAsset(w http.ResponseWriter, r *http.Request) {
	var in assetRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "asset"}
	if _, err := s.Store.Zone(r.Context(), in.ZoneID); err != nil {
		v.Add("zone_id", "no zone %q", in.ZoneID)
	}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	v.Text("installed_version", in.InstalledVersion, 64)
	if in.Criticality < 1 || in.Criticality > 5 {
		v.Add("criticality", "must be from 1 (low) to 5 (high), got %d", in.Criticality)
	}
	adapters.CheckEndpoint(in.Adapter, in.Endpoint, v.Add)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	as := store.Asset{ZoneID: in.ZoneID, ProductID: in.ProductID, Name: in.Name, InstalledVersion: in.InstalledVersion,
		Criticality: in.Criticality, SafetyCritical: in.SafetyCritical, RedundancyGroup: in.RedundancyGroup, Adapter: in.Adapter, Endpoint: in.Endpoint}
	ev := event(r, "asset.created")
	ev.Details = in
	if err := s.Store.CreateAsset(r.Context(), &as, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Simulator != nil && as.Adapter == adapters.Simulator {
		if err := s.Simulator.Register(r.Context(), as.ID, as.InstalledVersion, "{}"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, as)
}

// assetView is an asset with its simulated device, when it has one.
type assetView struct {
	store.Asset
	Device *deviceView `json:"device,omitempty"`
}

type deviceView struct {
	simulator.Device
	Faults     simulator.Faults      `json:"faults"`
	Operations []simulator.Operation `json:"operations"`
}

func (s *server) getAsset(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	as, err := s.Store.Asset(r.Context(), chi.URLParam(r, "assetID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view := assetView{Asset: as}
	if as.Adapter == "simulator" && s.Simulator != nil {
		d, err := s.Simulator.Device(r.Context(), as.ID)
		if err == nil {
			f, _ := s.Simulator.Faults(r.Context(), as.ID)
			ops, err := s.Simulator.Operations(r.Context(), as.ID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if ops == nil {
				ops = []simulator.Operation{}
			}
			view.Device = &deviceView{Device: d, Faults: f, Operations: ops}
		}
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *server) setFaults(w http.ResponseWriter, r *http.Request) {
	as, err := s.Store.Asset(r.Context(), chi.URLParam(r, "assetID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if as.Adapter != "simulator" || s.Simulator == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "asset " + as.Name + " is not simulated; faults can only be injected into simulated devices"})
		return
	}
	var f simulator.Faults
	if err := decode(w, r, &f); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "simulator.faults_set")
	ev.SubjectType, ev.SubjectID, ev.AssetID, ev.Details = "asset", as.ID, as.ID, f
	err = s.Store.Write(r.Context(), ev, func(tx *gorm.DB) error { return s.Simulator.SetFaults(r.Context(), tx, as.ID, f) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// inventoryOperations are the routes of inventory.go.
func (s *server) inventoryOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/vendors", ID: "listVendors", Tag: "Vendors", Summary: "List vendors (a vendor sees itself)", Allow: anyRole, Roles: "any", Answers: []answer{ok(nil)}, Handle: s.listVendors},
		{Method: "POST", Path: "/api/v1/vendors", ID: "createVendor", Tag: "Vendors", Summary: "Register a vendor", Allow: admins, Roles: "admin", /* body: {name, display_name} */ Answers: []answer{ok(nil)}, Handle: s.createVendor},
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}/keys", ID: "listVendorKeys", Tag: "Vendors", Summary: "List a vendor's trusted signing keys", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listVendorKeys},
		{Method: "POST", Path: "/api/v1/vendors/{vendorID}/keys", ID: "addVendorKey", Tag: "Vendors", Summary: "Trust a vendor's ed25519 public key for a period", Allow: admins, Roles: "admin", /* body: {public_key, not_before, not_after} */ Answers: []answer{ok(nil)}, Handle: s.addVendorKey},
		{Method: "POST", Path: "/api/v1/vendors/{vendorID}/keys/{keyID}/revoke", ID: "revokeVendorKey", Tag: "Vendors", Summary: "Revoke a vendor key: signatures by it are refused from now on", Allow: admins, Roles: "admin", /* body: {reason} */ Answers: []answer{ok(nil)}, Handle: s.revokeVendorKey},
		{Method: "GET", Path: "/api/v1/products", ID: "listProducts", Tag: "Inventory", Summary: "List the product catalogue", Allow: anyRole, Roles: "any", Answers: []answer{ok(nil)}, Handle: s.listProducts},
		{Method: "POST", Path: "/api/v1/products", ID: "createProduct", Tag: "Inventory", Summary: "Add a product to the catalogue", Allow: engineers, Roles: "engineer, admin", /* body: {vendor_id, name, kind} */ Answers: []answer{ok(nil)}, Handle: s.createProduct},
		{Method: "GET", Path: "/api/v1/sites", ID: "listSites", Tag: "Inventory", Summary: "List sites", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listSites},
		{Method: "POST", Path: "/api/v1/sites", ID: "createSite", Tag: "Inventory", Summary: "Add a site", Allow: engineers, Roles: "engineer, admin", /* body: {name} */ Answers: []answer{ok(nil)}, Handle: s.createSite},
		{Method: "GET", Path: "/api/v1/zones", ID: "listZones", Tag: "Inventory", Summary: "List zones with their SL-T and maintenance windows", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listZones},
		{Method: "POST", Path: "/api/v1/zones", ID: "createZone", Tag: "Inventory", Summary: "Add a zone; a window with no occurrence in the coming year (blackouts counted: the engine would find none) is refused with 422 saying why", Allow: engineers, Roles: "engineer, admin", /* body: {site_id, name, sl_t, test_bench, window} */ Answers: []answer{ok(nil)}, Handle: s.createZone},
		{Method: "GET", Path: "/api/v1/zones/{zoneID}", ID: "getZone", Tag: "Inventory", Summary: "Show a zone", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.getZone},
		{Method: "PUT", Path: "/api/v1/zones/{zoneID}/window", ID: "setZoneWindow", Tag: "Inventory", Summary: "Replace a zone's maintenance window and answer with the zone as stored (new updated_at); a window with no occurrence in the coming year (blackouts counted: the engine would find none) is refused with 422 saying why", Allow: engineers, Roles: "engineer, admin", /* body: {cron, duration, time_zone, max_parallel, blackouts} */ Answers: []answer{ok(nil)}, Handle: s.setZoneWindow},
		{Method: "GET", Path: "/api/v1/zones/{zoneID}/windows", ID: "zoneWindows", Tag: "Inventory", Summary: "Preview a zone's next window openings (?next=N): the spans the engine uses, overlapping occurrences joined; only the first may have started, and then it has open_now; continues means still open at its end", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.zoneWindows},
		{Method: "GET", Path: "/api/v1/windows", ID: "listWindows", Tag: "Inventory", Summary: "Next window openings of every zone (?next=N), as GET /api/v1/zones/{zoneID}/windows shows them", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listWindows},
		{Method: "GET", Path: "/api/v1/assets", ID: "listAssets", Tag: "Inventory", Summary: "List assets (?zone_id, ?product_id)", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listAssets},
		{Method: "POST", Path: "/api/v1/assets", ID: "createAsset", Tag: "Inventory", Summary: "Add an asset", Allow: engineers, Roles: "engineer, admin", /* body: {zone_id, product_id, name, installed_version, criticality, safety_critical, redundancy_group, adapter} */ Answers: []answer{ok(nil)}, Handle: s.createAsset},
		{Method: "GET", Path: "/api/v1/assets/{assetID}", ID: "getAsset", Tag: "Inventory", Summary: "Show an asset, with its simulated device and operations", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.getAsset},
		{Method: "PUT", Path: "/api/v1/assets/{assetID}/simulator/faults", ID: "setFaults", Tag: "Inventory", Summary: "Inject faults into a simulated device", Allow: engineers, Roles: "engineer, admin", /* body: {deploy_fail, verify_fail, hang, backup_corrupt, restore_fail} */ Answers: []answer{ok(nil)}, Handle: s.setFaults},
	}
}
